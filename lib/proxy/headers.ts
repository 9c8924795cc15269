/**
 * Header hygiene for every hop of the bridge (sidecar now, aggregator later). Works on Node's
 * `rawHeaders` arrays ([name, value, name, value, ...]) so names keep their case and order and
 * repeated headers stay repeated: what the workload sent is what the upstream gets, minus the
 * hop-by-hop headers (RFC 9110 section 7.6.1) and the identity headers a workload must not forge.
 */

import { BRIDGE_HEADER_PREFIX, BRIDGE_HOP_HEADER, BRIDGE_NAMESPACE_HEADER, BRIDGE_NODE_HEADER, BRIDGE_POD_HEADER } from '../names.js';

export { BRIDGE_HOP_HEADER, BRIDGE_NAMESPACE_HEADER, BRIDGE_NODE_HEADER, BRIDGE_POD_HEADER };

/**
 * Prefixes a workload may never send: they carry identity the bridge or the API server trusts.
 * `Impersonate-*` is not among them: it passes through, and the API server (or the aggregator, with a
 * SubjectAccessReview on the source) decides whether the caller may impersonate (DESIGN.md section 4).
 */
export const FORBIDDEN_CLIENT_PREFIXES = [BRIDGE_HEADER_PREFIX, 'x-remote-'] as const;

/**
 * Connection-scoped headers that never cross a proxy (RFC 9110 section 7.6.1), for every hop of the
 * bridge. `upgrade` is handled by the caller; `transfer-encoding` is framing, which each hop decides.
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'upgrade',
]);

export interface ProxyIdentity {
  pod?: string;
  namespace?: string;
  node?: string;
  /** Who forwarded the request; set as X-Bridge-Hop. */
  hop: string;
}

export function isForbiddenClientHeader(lowerName: string): boolean {
  // Cheap first-character test keeps the common path (accept, user-agent, content-type...) fast.
  const c = lowerName.charCodeAt(0);
  if (c !== 0x78 /* x */) return false;
  return FORBIDDEN_CLIENT_PREFIXES.some((prefix) => lowerName.startsWith(prefix));
}

/** Extra hop-by-hop names listed in a Connection header ("Connection: close, X-Foo"). */
function connectionTokens(rawHeaders: readonly string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.length !== 10 || rawHeaders[i]!.toLowerCase() !== 'connection') continue;
    for (const token of rawHeaders[i + 1]!.split(',')) {
      const name = token.trim().toLowerCase();
      if (name && name !== 'close' && name !== 'keep-alive' && name !== 'upgrade') (tokens ??= new Set()).add(name);
    }
  }
  return tokens;
}

/**
 * The request headers to send upstream: the client's, in order and case, without hop-by-hop and
 * forbidden identity headers, plus the bridge's identity headers. For an upgrade request
 * (`upgrade` set) the Connection/Upgrade pair is re-added so the upstream switches protocols too.
 */
export function upstreamRequestHeaders(rawHeaders: readonly string[], identity: ProxyIdentity, upgrade?: string): string[] {
  const extra = connectionTokens(rawHeaders);
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP_HEADERS.has(lower) || isForbiddenClientHeader(lower) || extra?.has(lower)) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  if (upgrade !== undefined) out.push('Connection', 'Upgrade', 'Upgrade', upgrade);
  if (identity.pod) out.push(BRIDGE_POD_HEADER, identity.pod);
  if (identity.namespace) out.push(BRIDGE_NAMESPACE_HEADER, identity.namespace);
  if (identity.node) out.push(BRIDGE_NODE_HEADER, identity.node);
  out.push(BRIDGE_HOP_HEADER, identity.hop);
  return out;
}

/**
 * The response headers to return to the client: the upstream's without hop-by-hop headers and
 * without Transfer-Encoding (Node re-frames the body itself: Content-Length when the upstream gave
 * one, chunked otherwise).
 */
export function clientResponseHeaders(rawHeaders: readonly string[]): string[] {
  const extra = connectionTokens(rawHeaders);
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP_HEADERS.has(lower) || lower === 'transfer-encoding' || extra?.has(lower)) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  return out;
}

/** Serializes a 101 (or any) response head for writing to a raw socket after an upgrade. */
export function rawResponseHead(statusCode: number, statusMessage: string, rawHeaders: readonly string[]): string {
  let head = `HTTP/1.1 ${statusCode} ${statusMessage}\r\n`;
  for (let i = 0; i < rawHeaders.length; i += 2) head += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
  return `${head}\r\n`;
}

/** The first value of a header (name in lower case) in a raw header list. */
export function headerValue(rawHeaders: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === lowerName) return rawHeaders[i + 1];
  return undefined;
}

/** What the forwarder needs to know about a request head, in one pass without building `req.headers`. */
export function scanRequestHead(rawHeaders: readonly string[]): { hasHost: boolean; hasBody: boolean } {
  let hasHost = false;
  let hasBody = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') hasHost = true;
    else if (name.length === 14 && name.toLowerCase() === 'content-length') hasBody ||= rawHeaders[i + 1]!.trim() !== '0';
    else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') hasBody = true;
  }
  return { hasHost, hasBody };
}
