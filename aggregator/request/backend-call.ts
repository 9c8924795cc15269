/**
 * One request to a backend API server whose answer the aggregator reads in full rather than streams
 * to a client: the steps of a source-first create and shadow reads.
 */
import type { Agent } from 'node:https';
import { request } from 'node:https';
import type { ClusterConnection } from '../../lib/cluster-connection.js';
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
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...backendAddress(cluster),
        method: call.method,
        path: call.path,
        headers: call.headers as unknown as Record<string, string>,
        agent: call.agent,
        timeout: call.timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (call.maxBytes !== undefined && size > call.maxBytes) return void req.destroy(new Error(`answer larger than ${call.maxBytes} bytes`));
          chunks.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${call.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(call.body);
  });
}
