/**
 * A small JSON REST client over @kubernetes/client-node's KubeConfig (kubeconfig file or in-cluster
 * service account): the webhook needs a dozen plain calls (version, get/create/patch a few objects),
 * for which the generated API classes add weight and hide the HTTP status the callers branch on.
 */
import { Agent, request, type RequestOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
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

export class KubeRestClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 8 });

  private constructor(
    private readonly kubeConfig: KubeConfig,
    readonly server: string,
  ) {}

  /** From a kubeconfig file, or (no path) KUBECONFIG / in-cluster / ~/.kube/config like client-go. */
  static load(kubeconfigPath?: string): KubeRestClient {
    const kc = new KubeConfig();
    try {
      if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
      else kc.loadFromDefault();
    } catch (err) {
      throw new BridgeError('BRIDGE_ERR_CONFIG', `cannot load kubeconfig ${kubeconfigPath ?? '(default)'}: ${errorMessage(err)}`, {
        fix: 'pass --kubeconfig or run in a pod with a service account',
        cause: err,
      });
    }
    const server = kc.getCurrentCluster()?.server;
    if (!server) throw new BridgeError('BRIDGE_ERR_CONFIG', 'the kubeconfig names no current cluster server', { fix: 'check current-context' });
    return new KubeRestClient(kc, server.replace(/\/$/, ''));
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
    await this.kubeConfig.applyToHTTPSOptions(opts);
    opts.agent = this.agent;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) {
      opts.headers = {
        ...opts.headers,
        'content-type': options.patchType ? PATCH_CONTENT_TYPES[options.patchType] : 'application/json',
        'content-length': Buffer.byteLength(payload),
      };
    }
    const timeoutMs = options.timeoutMs ?? 10_000;
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
    if (!ok.includes(response.status)) {
      const message = (response.body as { message?: string } | undefined)?.message ?? String(response.body).slice(0, 200);
      throw new BridgeError('BRIDGE_ERR_KUBE_API', `${method} ${path}: HTTP ${response.status}: ${message}`, {
        fix: response.status === 403 ? 'grant the RBAC permission named in the message' : 'see the message',
      });
    }
    return response;
  }

  close(): void {
    this.agent.destroy();
  }
}
