/**
 * Which resource serves a kind of an API version, from one cluster's discovery (cached): for reads of
 * an object named by an ownerReference (apiVersion, kind, name), by the synchronizer's owner resolver
 * and the aggregator's mapping of the owner UIDs a client writes.
 */
import { BridgeError } from '../errors.js';
import type { KubeRestClient } from './rest-client.js';

export interface ServedKind {
  resource: string;
  namespaced: boolean;
}

interface Discovery {
  fetchedAt: number;
  /** By kind; empty when the API version is not served. */
  kinds: Map<string, ServedKind>;
}

/** How long a discovery answer is trusted; a kind it lacks is looked up again after REFRESH_MS (a CRD installed since). */
const DISCOVERY_TTL_MS = 10 * 60_000;
const REFRESH_MS = 30_000;

export const groupVersionPath = (apiVersion: string) => (apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`);

/** The path of the object an ownerReference-like (apiVersion, name) names, of a served kind, in `namespace` when namespaced. */
export function servedObjectPath(apiVersion: string, served: ServedKind, namespace: string | undefined, name: string): string {
  const ns = served.namespaced ? `/namespaces/${encodeURIComponent(namespace ?? '')}` : '';
  return `${groupVersionPath(apiVersion)}${ns}/${served.resource}/${encodeURIComponent(name)}`;
}

/**
 * Discovery's answer at `path`: 404 (not served) is undefined. Any other failure (a 503 while an API
 * server starts or an aggregated API is down, a 429) says nothing about what is served: it throws a plain
 * BRIDGE_ERR_KUBE_API: retried in seconds, never taken for "not served" (a shard refused for a minute,
 * a source recorded as unable to fence).
 */
export async function discoveryAt<T>(client: Pick<KubeRestClient, 'request'>, path: string): Promise<T | undefined> {
  const got = await client.request<T>('GET', path);
  if (got.status === 200) return got.body;
  if (got.status === 404) return undefined;
  throw new BridgeError('BRIDGE_ERR_KUBE_API', `discovery ${path}: HTTP ${got.status}`, { apiStatus: got.status });
}

export class KindDiscovery {
  private readonly discovery = new Map<string, Discovery>();

  constructor(
    private readonly rest: Pick<KubeRestClient, 'request'>,
    /** Named in errors: the cluster asked. */
    private readonly side: string,
  ) {}

  /** The kind's resource, or undefined when the API version does not serve it. */
  async servedKind(apiVersion: string, kind: string, now = Date.now()): Promise<ServedKind | undefined> {
    let known = this.discovery.get(apiVersion);
    const stale = !known || now - known.fetchedAt > DISCOVERY_TTL_MS || (!known.kinds.has(kind) && now - known.fetchedAt > REFRESH_MS);
    if (stale) {
      const got = await this.rest.request<{ resources?: { name: string; kind: string; namespaced: boolean }[] }>('GET', groupVersionPath(apiVersion));
      if (got.status !== 200 && got.status !== 404) {
        throw new BridgeError('BRIDGE_ERR_SYNC', `discovery of ${apiVersion} in the ${this.side} cluster answered HTTP ${got.status}`);
      }
      const resources = got.status === 200 ? (got.body.resources ?? []) : [];
      // Subresources (`pods/status`) share their parent's kind.
      const kinds = new Map(resources.filter((r) => !r.name.includes('/')).map((r) => [r.kind, { resource: r.name, namespaced: r.namespaced }]));
      known = { fetchedAt: now, kinds };
      this.discovery.set(apiVersion, known);
    }
    return known!.kinds.get(kind);
  }
}
