/**
 * How a merged read reaches each backend (ns-design section 3): authorized exactly as a forwarded
 * list or watch is (steps.ts authenticate and backend-headers.ts): the source with the caller's own
 * credentials over the caller pool, the destination as the impersonated caller over the bridge's
 * pool; JSON asked of both (the bridge reads and merges the bodies). Each backend gets the client's
 * query with its own resourceVersion, match, limit and continue.
 */
import type { Agent } from 'node:https';
import type { ClusterConnection } from '../../lib/kube/cluster-connection.js';
import type { ClusterSide } from '../../lib/routing/types.js';
import { backendHeaders } from './backend-headers.js';
import type { MergedPrepared, ProxyContext } from './request-context.js';

/** The query parameters the bridge sets per backend; the client's are not passed on. */
const PER_BACKEND = ['resourceVersion', 'resourceVersionMatch', 'continue', 'limit'];

export interface SideRequest {
  cluster: ClusterConnection;
  agent: Agent;
  headers: string[];
}

export function sideRequest(ctx: ProxyContext, prepared: MergedPrepared, side: ClusterSide): SideRequest {
  const cluster = ctx.clusters[side];
  const impersonate = side === 'destination' ? prepared.impersonate : [];
  return {
    cluster,
    agent: side === 'destination' ? cluster.asBridge : cluster.asCaller,
    headers: backendHeaders(prepared.req.rawHeaders, side, impersonate, cluster, true),
  };
}

/** The client's path and query with the per-backend parameters replaced by `set` (undefined: left out). */
export function backendPath(clientUrl: string, set: Record<string, string | undefined>): string {
  const q = clientUrl.indexOf('?');
  const path = q < 0 ? clientUrl : clientUrl.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : clientUrl.slice(q + 1));
  for (const name of PER_BACKEND) params.delete(name);
  for (const [name, value] of Object.entries(set)) if (value !== undefined && value !== '') params.set(name, value);
  const query = params.toString();
  return query ? `${path}?${query}` : path;
}

/**
 * The client takes JSON: no Accept, or one of its media ranges is JSON or a wildcard. client-go's
 * protobuf clients send `application/vnd.kubernetes.protobuf, application/json` and are answered JSON
 * (client-go decodes by the answer's Content-Type); a client that takes only protobuf or CBOR gets 406.
 */
export function acceptsJson(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  return accept.split(',').some((range) => {
    const type = range.split(';')[0]!.trim().toLowerCase();
    return type === 'application/json' || type === '*/*' || type === 'application/*';
  });
}
