/**
 * One request to a backend API server whose answer the aggregator reads in full rather than streams
 * to a client: the steps of a source-first create and shadow reads. The transport (deadline, socket,
 * size limit) is the cluster's REST client's (lib/kube/rest-client.ts rawBuffered).
 */
import type { Agent } from 'node:https';
import type { ClusterConnection } from '../../lib/kube/cluster-connection.js';
import type { BufferedResponse } from '../../lib/routing/rewritten-response.js';

export interface BackendCall {
  method: string;
  path: string;
  /** Raw [name, value, ...] headers, Host included (Node adds none to raw headers). */
  headers: string[];
  /** The cluster's pool for the caller's own token or for the bridge's credentials. */
  agent: Agent;
  body?: Buffer;
  timeoutMs: number;
  /** An answer larger than this fails the call. */
  maxBytes?: number;
}

/** Where Node's https.request reaches a backend API server. */
export function backendAddress(cluster: ClusterConnection): { protocol: 'https:'; host: string; port: string | number } {
  return { protocol: 'https:', host: cluster.url.hostname, port: cluster.url.port || 443 };
}

export function callBackend(cluster: ClusterConnection, call: BackendCall): Promise<BufferedResponse> {
  return cluster.rest.rawBuffered(call);
}
