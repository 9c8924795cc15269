/**
 * The headers a request carries to its backend, and this hop's mark on them: a request that already
 * carries the mark looped back and is refused (one hop at most).
 */
import type { ClusterConnection } from '../../lib/kube/cluster-connection.js';
import { BRIDGE_HEADER_PREFIX, BRIDGE_HOP_HEADER } from '../../lib/names.js';
import { HOP_BY_HOP_HEADERS, headerValue } from '../../lib/proxy/headers.js';
import { jsonOnlyAccept, replacedWhenRewriting } from '../../lib/routing/request-rewrite.js';
import type { ClusterSide } from '../../lib/routing/types.js';

export const AGGREGATOR_HOP = 'aggregator';
const HOP_BY_HOP = new Set([...HOP_BY_HOP_HEADERS, 'transfer-encoding', 'host']);

/** The request already passed through this aggregator. */
export function looped(rawHeaders: readonly string[]): boolean {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === BRIDGE_HOP_HEADER.toLowerCase() && rawHeaders[i + 1] === AGGREGATOR_HOP) return true;
  }
  return false;
}

/**
 * The headers for the backend: the client's minus hop-by-hop and bridge headers; toward the
 * destination the token and client impersonation headers are replaced by the bridge's credentials
 * and impersonation of the authenticated caller; for a rewritten shard, JSON only and no compression.
 */
export function backendHeaders(
  raw: readonly string[],
  side: ClusterSide,
  impersonate: string[],
  cluster: ClusterConnection,
  rewriting: boolean,
  bodyLength?: number,
): string[] {
  // Node adds no Host header to a request whose headers are a raw array: name the backend here.
  const out: string[] = ['Host', cluster.url.host];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower.startsWith(BRIDGE_HEADER_PREFIX)) continue;
    if (side === 'destination' && (lower === 'authorization' || lower.startsWith('impersonate-'))) continue;
    if (rewriting && replacedWhenRewriting(lower)) continue;
    if (bodyLength !== undefined && lower === 'content-length') continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  if (rewriting) out.push('Accept', jsonOnlyAccept(headerValue(raw, 'accept')));
  if (bodyLength !== undefined) out.push('Content-Length', String(bodyLength));
  if (side === 'destination') {
    out.push(...impersonate);
    for (const [name, value] of Object.entries(cluster.bridgeHeaders)) out.push(name, value);
  }
  out.push(BRIDGE_HOP_HEADER, AGGREGATOR_HOP);
  return out;
}
