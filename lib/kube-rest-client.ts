/**
 * The one small JSON REST client: from a kubeconfig (file or in-cluster service account, read by
 * kubeconfig-reader.ts) or from explicit credentials (the lab, before any kubeconfig
 * exists). Components need a few dozen plain calls, for which the generated API classes add weight and
 * hide the HTTP status the callers branch on.
 */
import { Agent, request, type RequestOptions } from 'node:https';
import { defaultAccess, inClusterAccess, kubeconfigFileAccess, type KubeconfigAccess } from './kubeconfig-reader.js';
import { IN_CLUSTER } from './config.js';
import { BridgeError, errorMessage } from './errors.js';

export interface KubeResponse<T = unknown> {
  status: number;
  body: T;
}

export type PatchType = 'merge' | 'strategic' | 'json' | 'apply';
const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
};

/** Credentials given directly: a CA to trust, and a client certificate or a bearer token. */
export interface TlsCredentials {
  caPem: string;
  certPem?: string;
  keyPem?: string;
  token?: string;
}

/** What createOrReplace did. `conflict`: someone else wrote first; the caller's next pass looks again. */
export type WriteOutcome = 'created' | 'replaced' | 'unchanged' | 'conflict';

interface KubeObject {
  metadata?: { resourceVersion?: string };
}

/**
 * A kubeconfig file, IN_CLUSTER or (no path) client-go's default chain (kubeconfig-reader.ts). In-cluster,
 * the token file is re-read as kubelet rotates it.
 */
export function loadKubeConfig(kubeconfigPath?: string, serviceAccountRoot = ''): KubeconfigAccess {
  try {
    if (kubeconfigPath === IN_CLUSTER) return inClusterAccess(serviceAccountRoot);
    return kubeconfigPath ? kubeconfigFileAccess(kubeconfigPath) : defaultAccess();
  } catch (err) {
    throw new BridgeError('BRIDGE_ERR_CONFIG', `cannot load kubeconfig ${kubeconfigPath ?? '(default)'}: ${errorMessage(err)}`, {
      fix: kubeconfigPath === IN_CLUSTER ? 'run in a pod with a mounted service-account token' : 'pass --kubeconfig or run in a pod with a service account',
      cause: err,
    });
  }
}

/** Every call's deadline unless the caller gives one: no answer (or no byte of it) for this long fails the call. */
export const DEFAULT_TIMEOUT_MS = 10_000;

export class KubeRestClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 8 });

  private constructor(
    private readonly authenticate: (options: RequestOptions) => Promise<void>,
    readonly server: string,
  ) {}

  /** For a server and credentials in hand (the lab's own PKI, a freshly minted token). */
  static withCredentials(server: string, credentials: TlsCredentials): KubeRestClient {
    return new KubeRestClient(
      async (options) => {
        options.ca = credentials.caPem;
        if (credentials.certPem) Object.assign(options, { cert: credentials.certPem, key: credentials.keyPem });
        if (credentials.token) options.headers = { ...options.headers, authorization: `Bearer ${credentials.token}` };
      },
      server.replace(/\/$/, ''),
    );
  }

  /**
   * From a kubeconfig file, IN_CLUSTER (the pod's ServiceAccount), or (no path) KUBECONFIG / in-cluster /
   * ~/.kube/config like client-go. `serviceAccountRoot` prefixes the ServiceAccount files (tests).
   */
  static load(kubeconfigPath?: string, serviceAccountRoot = ''): KubeRestClient {
    const access = loadKubeConfig(kubeconfigPath, serviceAccountRoot);
    return new KubeRestClient((options) => access.applyToHTTPSOptions(options), access.server);
  }

  /** Any status is returned; callers decide (404 and 409 are often expected). */
  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    options: { patchType?: PatchType; timeoutMs?: number; headers?: Record<string, string | string[]> } = {},
  ): Promise<KubeResponse<T>> {
    const url = new URL(this.server + path);
    const opts: RequestOptions = { method, agent: this.agent, headers: { accept: 'application/json', ...options.headers } };
    await this.authenticate(opts);
    opts.agent = this.agent;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) {
      opts.headers = {
        ...opts.headers,
        'content-type': options.patchType ? PATCH_CONTENT_TYPES[options.patchType] : 'application/json',
        'content-length': Buffer.byteLength(payload),
      };
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const req = request(url, { ...opts, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // Not JSON (rare: proxies, /healthz); hand back the text.
          }
          resolve({ status: res.statusCode ?? 0, body: parsed as T });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
      req.on('error', (err) =>
        reject(
          new BridgeError('BRIDGE_ERR_KUBE_API', `${method} ${path}: ${errorMessage(err)}`, {
            fix: 'check the API server address and the network',
            cause: err,
          }),
        ),
      );
      req.end(payload);
    });
  }

  /** Like request, but any status outside `ok` throws BRIDGE_ERR_KUBE_API with the server's message. */
  async expect<T = unknown>(method: string, path: string, ok: number[], body?: unknown, options: { patchType?: PatchType } = {}): Promise<KubeResponse<T>> {
    const response = await this.request<T>(method, path, body, options);
    if (!ok.includes(response.status)) throw kubeApiError(method, path, response);
    return response;
  }

  /**
   * Streams a watch (`path` with `watch=true`): calls onEvent for each event until the server ends the
   * watch, the connection fails, or the returned stop() is called; `ended` resolves then, with the
   * error if there was one.
   */
  async watch<T>(
    path: string,
    onEvent: (event: { type: string; object: T }) => void,
    headers: Record<string, string> = {},
  ): Promise<{ stop: () => void; ended: Promise<Error | undefined> }> {
    const opts: RequestOptions = { method: 'GET', agent: false, headers: { accept: 'application/json', ...headers } };
    await this.authenticate(opts);
    const req = request(new URL(this.server + path), opts);
    // A stalled API server accepts the connection and answers nothing: the head has the calls' deadline.
    const headDeadline = setTimeout(() => req.destroy(new Error(`watch ${path}: no answer within ${DEFAULT_TIMEOUT_MS} ms`)), DEFAULT_TIMEOUT_MS);
    headDeadline.unref();
    const ended = new Promise<Error | undefined>((resolve) => {
      req.on('error', (err) => {
        clearTimeout(headDeadline);
        resolve(err);
      });
      req.on('response', (res) => {
        clearTimeout(headDeadline);
        if (res.statusCode !== 200) {
          res.resume();
          return resolve(new BridgeError('BRIDGE_ERR_KUBE_API', `watch ${path}: HTTP ${res.statusCode}`));
        }
        let buffered = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
            const line = buffered.slice(0, newline);
            buffered = buffered.slice(newline + 1);
            if (!line.trim()) continue;
            try {
              onEvent(JSON.parse(line) as { type: string; object: T });
            } catch (err) {
              // A torn line or a handler's throw ends this watch (the caller lists again); thrown from here it would end the process.
              res.destroy();
              return resolve(err instanceof Error ? err : new Error(errorMessage(err)));
            }
          }
        });
        res.on('end', () => resolve(undefined));
        res.on('error', (err) => resolve(err));
      });
    });
    req.end();
    return { stop: () => req.destroy(), ended };
  }

  /**
   * Creates `collection/name`, or replaces it with `desired`: a body, or a function of the current
   * object that returns one (undefined keeps the object as it is). The replacement carries the current
   * resourceVersion, so a concurrent writer wins and is reported as `conflict` rather than overwritten.
   */
  async createOrReplace<T extends KubeObject>(
    collection: string,
    name: string,
    desired: object | ((current: T | undefined) => object | undefined | Promise<object | undefined>),
  ): Promise<WriteOutcome> {
    const path = `${collection}/${encodeURIComponent(name)}`;
    const current = await this.expect<T>('GET', path, [200, 404]);
    const existing = current.status === 200 ? current.body : undefined;
    const body = (typeof desired === 'function' ? await desired(existing) : desired) as KubeObject | undefined;
    if (!body) return 'unchanged';
    if (!existing) return (await this.expect('POST', collection, [201, 409], body)).status === 201 ? 'created' : 'conflict';
    const replacement = { ...body, metadata: { ...body.metadata, resourceVersion: existing.metadata?.resourceVersion } };
    return (await this.expect('PUT', path, [200, 409], replacement)).status === 200 ? 'replaced' : 'conflict';
  }

  close(): void {
    this.agent.destroy();
  }
}

/** BRIDGE_ERR_KUBE_API for an answer the caller did not expect, with the API server's message. */
export function kubeApiError(method: string, path: string, response: KubeResponse): BridgeError {
  const message = (response.body as { message?: string } | undefined)?.message ?? String(response.body).slice(0, 200);
  return new BridgeError('BRIDGE_ERR_KUBE_API', `${method} ${path}: HTTP ${response.status}: ${message}`, {
    fix: response.status === 403 ? 'grant the RBAC permission named in the message' : 'see the message',
  });
}

/** Runs `use` with the client and closes it afterwards, whatever happens. */
export async function usingClient<T>(client: KubeRestClient, use: (client: KubeRestClient) => Promise<T>): Promise<T> {
  try {
    return await use(client);
  } finally {
    client.close();
  }
}
