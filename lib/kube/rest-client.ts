/**
 * The one small JSON REST client: from a kubeconfig (file or in-cluster service account, read by
 * kubeconfig-reader.ts) or from explicit credentials (the lab, before any kubeconfig
 * exists). Components need a few dozen plain calls, for which the generated API classes add weight and
 * hide the HTTP status the callers branch on.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { Agent, request, type RequestOptions } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultAccess, inClusterAccess, kubeconfigFileAccess, type KubeconfigAccess } from './kubeconfig-reader.js';
import { IN_CLUSTER } from '../process/config.js';
import { readBody } from '../proxy/read-body.js';
import { BridgeError, errorMessage } from '../errors.js';
import { followWatch, type WatchEvent, type WatchHandle } from './watch-stream.js';

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

/** One request whose body and headers the caller builds and whose answer it reads as a stream (the aggregator's calls, watches). */
export interface RawCall {
  method: string;
  path: string;
  /** Raw [name, value, ...] headers, Host included (Node adds none to raw headers), or an object. */
  headers?: string[] | OutgoingHttpHeaders;
  body?: Buffer;
  /** No byte for this long fails the call, before or after the head (default DEFAULT_TIMEOUT_MS); with `stream`, the head only. */
  timeoutMs?: number;
  /**
   * The pool, and with it the TLS identity, of the call (a ClusterConnection's asCaller or asBridge):
   * the caller's headers then carry any token. Without one, this client's own credentials.
   */
  agent?: Agent;
  /** A long-lived answer (a watch): only the head has the deadline, and without `agent` it takes a socket of its own, not one of the pool's. */
  stream?: boolean;
}

export interface RawResponse {
  status: number;
  statusMessage: string;
  rawHeaders: string[];
  body: IncomingMessage;
}

export interface BufferedAnswer {
  status: number;
  statusMessage: string;
  rawHeaders: string[];
  body: Buffer;
}

export interface WatchOptions {
  headers?: Record<string, string>;
  /** No byte for this long ends the watch with an error (lib/kube/list-watch.ts's silenceLimitMs). */
  silentMs?: number;
}

export class KubeRestClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 8 });
  private readonly address: { protocol: string; hostname: string; port: string; path: string };

  private constructor(
    private readonly authenticate: (options: RequestOptions) => Promise<void>,
    readonly server: string,
  ) {
    const url = new URL(server);
    // A server with a path prefix (behind a gateway) keeps it before every call's path.
    this.address = {
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port || '443',
      path: url.pathname.replace(/\/$/, ''),
    };
  }

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
    return KubeRestClient.fromAccess(loadKubeConfig(kubeconfigPath, serviceAccountRoot));
  }

  /** From a kubeconfig already read (lib/kube/cluster-connection.ts reads each once for its pools and this client). */
  static fromAccess(access: KubeconfigAccess): KubeRestClient {
    return new KubeRestClient((options) => access.applyToHTTPSOptions(options), access.server);
  }

  /**
   * Sends `call` and resolves with the answer's head once it arrives; its body is the caller's to read
   * (or resume). Rejects with BRIDGE_ERR_KUBE_API when there is no answer: the connection failed or
   * the deadline passed (after the head, the body stream fails instead).
   */
  async raw(call: RawCall): Promise<RawResponse> {
    const timeoutMs = call.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const opts: RequestOptions = { method: call.method, headers: call.headers as OutgoingHttpHeaders | undefined };
    if (call.agent) opts.agent = call.agent;
    else {
      const own: RequestOptions = {};
      await this.authenticate(own);
      const { headers: credentialHeaders, ...tls } = own;
      Object.assign(opts, tls, { agent: call.stream ? false : this.agent, headers: withHeaders(call.headers, credentialHeaders) });
    }
    if (!call.stream) opts.timeout = timeoutMs;
    return new Promise((resolve, reject) => {
      let answer: IncomingMessage | undefined;
      // The path goes as given (a URL would normalize a proxied caller's path).
      const req = request({ ...this.address, path: this.address.path + call.path, ...opts }, (res) => {
        clearTimeout(headDeadline);
        answer = res;
        resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', rawHeaders: res.rawHeaders, body: res });
      });
      const expire = () => req.destroy(new Error(`no answer within ${timeoutMs} ms`));
      // A stalled API server accepts the connection and answers nothing: a stream's head has the deadline, its body the caller's watchdog.
      const headDeadline = call.stream ? setTimeout(expire, timeoutMs).unref() : undefined;
      req.on('timeout', expire);
      req.on('error', (err) => {
        clearTimeout(headDeadline);
        // After the head, the body fails with the cause (Node would name it only "aborted").
        if (answer) answer.destroy(err);
        else reject(new BridgeError('BRIDGE_ERR_KUBE_API', errorMessage(err), { fix: 'check the API server address and the network', cause: err }));
      });
      req.end(call.body);
    });
  }

  /** raw(), read in full; an answer over `maxBytes` fails the call. */
  async rawBuffered(call: RawCall & { maxBytes?: number }): Promise<BufferedAnswer> {
    const answer = await this.raw(call);
    const body = await readBody(answer.body, call.maxBytes ?? Infinity);
    if (!body) throw new Error(`answer larger than ${call.maxBytes} bytes`);
    return { ...answer, body };
  }

  /** Any status is returned; callers decide (404 and 409 are often expected). */
  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    options: { patchType?: PatchType; timeoutMs?: number; headers?: Record<string, string | string[]> } = {},
  ): Promise<KubeResponse<T>> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: OutgoingHttpHeaders = { accept: 'application/json', ...options.headers };
    if (payload !== undefined) {
      headers['content-type'] = options.patchType ? PATCH_CONTENT_TYPES[options.patchType] : 'application/json';
      headers['content-length'] = payload.length;
    }
    let answer: BufferedAnswer;
    for (let retry = 0; ; retry++) {
      try {
        answer = await this.rawBuffered({ method, path, headers, body: payload, timeoutMs: options.timeoutMs });
      } catch (err) {
        throw new BridgeError('BRIDGE_ERR_KUBE_API', `${method} ${path}: ${errorMessage(err)}`, {
          fix: 'check the API server address and the network',
          cause: err,
        });
      }
      const wait = retryAfterSeconds(answer);
      if (wait === undefined || retry >= THROTTLED_RETRIES) break;
      await sleep(wait * 1000);
    }
    const text = answer.body.toString('utf8');
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON (rare: proxies, /healthz); hand back the text.
    }
    return { status: answer.status, body: parsed as T };
  }

  /** Like request, but any status outside `ok` throws BRIDGE_ERR_KUBE_API with the server's message. */
  async expect<T = unknown>(method: string, path: string, ok: number[], body?: unknown, options: { patchType?: PatchType } = {}): Promise<KubeResponse<T>> {
    const response = await this.request<T>(method, path, body, options);
    if (!ok.includes(response.status)) throw kubeApiError(method, path, response);
    return response;
  }

  /**
   * Streams a watch (`path` with `watch=true`, read by lib/kube/watch-stream.ts): calls onEvent for each event
   * until the server ends the watch, the connection fails, an ERROR event arrives (a WatchStreamError
   * with its code), the watch is silent for `silentMs`, or stop() is called; `ended` resolves then, with
   * the error if there was one. Never rejects.
   */
  async watch<T>(path: string, onEvent: (event: WatchEvent<T>) => void, options: WatchOptions = {}): Promise<WatchHandle> {
    let answer: RawResponse;
    try {
      answer = await this.raw({ method: 'GET', path, headers: { accept: 'application/json', ...options.headers }, stream: true });
    } catch (err) {
      return { stop: () => undefined, ended: Promise.resolve(new BridgeError('BRIDGE_ERR_KUBE_API', `watch ${path}: ${errorMessage(err)}`, { cause: err })) };
    }
    if (answer.status !== 200) {
      answer.body.resume();
      return { stop: () => answer.body.destroy(), ended: Promise.resolve(new BridgeError('BRIDGE_ERR_KUBE_API', `watch ${path}: HTTP ${answer.status}`)) };
    }
    return followWatch(answer.body, onEvent, { silentMs: options.silentMs });
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

/** As client-go's rest client: an answer the server asks to have repeated is sent again this many times at most. */
export const THROTTLED_RETRIES = 10;
/** A Retry-After longer than this is shortened: a one-shot command should not hang on a wrong header. */
const RETRY_AFTER_CAP_SECONDS = 10;

/**
 * Seconds to wait before sending the call again, or undefined when it should not be: like client-go, a
 * 429 or 5xx that carries an integer Retry-After (kube-apiserver's priority and fairness, a resource whose
 * storage is still initializing, the bridge's hand-off hold); the server has not acted on the call, so
 * every verb is repeated.
 */
export function retryAfterSeconds(answer: Pick<BufferedAnswer, 'status' | 'rawHeaders'>): number | undefined {
  if (answer.status !== 429 && (answer.status < 500 || answer.status > 599)) return undefined;
  const at = answer.rawHeaders.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === 'retry-after');
  const value = at < 0 ? undefined : answer.rawHeaders[at + 1]?.trim();
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Math.min(Number(value), RETRY_AFTER_CAP_SECONDS);
}

/** For createOrReplace: `body` when the object is absent; an existing one is kept as it is. */
export function ifAbsent(body: object): (current: unknown) => object | undefined {
  return (current) => (current ? undefined : body);
}

/** BRIDGE_ERR_KUBE_API for an answer the caller did not expect, with the API server's message. */
export function kubeApiError(method: string, path: string, response: KubeResponse): BridgeError {
  const message = (response.body as { message?: string } | undefined)?.message ?? String(response.body).slice(0, 200);
  return new BridgeError('BRIDGE_ERR_KUBE_API', `${method} ${path}: HTTP ${response.status}: ${message}`, {
    fix: response.status === 403 ? 'grant the RBAC permission named in the message' : 'see the message',
    apiStatus: response.status,
  });
}

/** The caller's headers (raw or an object) with the credentials' (a bearer token). */
function withHeaders(headers: RawCall['headers'], credentials: RequestOptions['headers']): RawCall['headers'] {
  const extra = Object.entries((credentials ?? {}) as OutgoingHttpHeaders).filter((entry): entry is [string, string] => typeof entry[1] === 'string');
  if (extra.length === 0) return headers;
  if (Array.isArray(headers)) return [...headers, ...extra.flat()];
  return { ...headers, ...Object.fromEntries(extra) };
}

/** Runs `use` with the client and closes it afterwards, whatever happens. */
export async function usingClient<T>(client: KubeRestClient, use: (client: KubeRestClient) => Promise<T>): Promise<T> {
  try {
    return await use(client);
  } finally {
    client.close();
  }
}
