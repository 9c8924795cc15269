/**
 * The request side of resourceVersion rewriting for a moved shard: the `resourceVersion` and
 * `continue` query parameters and the RVs in a JSON body, from presented values to the owner's.
 */
import { mapContinueToken, parseJsonExact, requestRVMapper, rewriteObjectRVs, type ShardRVCodec } from './resource-version.js';

export type QueryRewrite = { ok: true; path: string } | { ok: false; expiredRV: string };

/** Rewrites the query of `url`; an RV or continue token of an older epoch is reported for a 410. */
export function rewriteQuery(url: string, codec: ShardRVCodec): QueryRewrite {
  const q = url.indexOf('?');
  if (q < 0) return { ok: true, path: url };
  const params = new URLSearchParams(url.slice(q + 1));
  const toBackend = requestRVMapper(codec);
  let changed = false;
  const rv = params.get('resourceVersion');
  if (rv !== null && rv !== '' && rv !== '0') {
    const decoded = codec.decode(rv);
    if (decoded.kind === 'older-epoch') return { ok: false, expiredRV: rv };
    if (decoded.kind === 'current') {
      params.set('resourceVersion', decoded.backendRV);
      changed = true;
    }
  }
  const token = params.get('continue');
  if (token) {
    const mapped = mapContinueToken(token, toBackend);
    if (mapped === undefined) return { ok: false, expiredRV: token };
    if (mapped !== token) {
      params.set('continue', mapped);
      changed = true;
    }
  }
  return { ok: true, path: changed ? `${url.slice(0, q)}?${params.toString()}` : url };
}

export type BodyRewrite = { ok: true; body: Buffer } | { ok: false; reason: 'stale' | 'malformed' };

/** Rewrites the RVs of a JSON request body; a body carrying an older epoch's RV is `stale` (409). */
export function rewriteRequestBody(body: Buffer, codec: ShardRVCodec): BodyRewrite {
  if (body.length === 0) return { ok: true, body };
  let parsed: unknown;
  try {
    parsed = parseJsonExact(body.toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (!rewriteObjectRVs(parsed, requestRVMapper(codec))) return { ok: false, reason: 'stale' };
  return { ok: true, body: Buffer.from(JSON.stringify(parsed)) };
}

/** Request bodies whose RVs `rewriteRequestBody` rewrites: the JSON family (objects, merge and strategic merge patches). */
export function isJsonBody(contentType: string): boolean {
  return contentType.startsWith('application/') && contentType.includes('json');
}

/** Request headers a rewritten request does not pass on: the answer must come back as uncompressed JSON. */
export function replacedWhenRewriting(lowerName: string): boolean {
  return lowerName === 'accept' || lowerName === 'accept-encoding';
}

/** Accept without protobuf: only JSON bodies can be rewritten, and every client takes JSON as well. */
export function jsonOnlyAccept(accept: string | undefined): string {
  if (!accept) return 'application/json';
  const kept = accept.split(',').filter((part) => !part.includes('protobuf'));
  return kept.length > 0 ? kept.join(',') : 'application/json';
}
