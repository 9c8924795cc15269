/**
 * The request side of resourceVersion rewriting that needs no parser beyond JSON: the `resourceVersion`
 * and `continue` query parameters and the RVs of JSON bodies, from presented values to the owner's.
 * The sidecar's local routing uses only this (its bundle carries no YAML or protobuf code);
 * request-rewrite.ts adds the other formats for the aggregator.
 */
import { BridgeError, errorMessage, isBridgeError } from '../errors.js';
import { mapContinueToken, parseJsonExact, requestRVMapper, rewriteObjectRVs, type ShardRVCodec } from './resource-version.js';

export type QueryRewrite = { ok: true; path: string } | { ok: false; expiredRV: string; continueToken?: true };

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
    if (mapped === undefined) return { ok: false, expiredRV: token, continueToken: true };
    if (mapped !== token) {
      params.set('continue', mapped);
      changed = true;
    }
  }
  return { ok: true, path: changed ? `${url.slice(0, q)}?${params.toString()}` : url };
}

export type BodyRewrite =
  | { ok: true; body: Buffer }
  /** stale: an older epoch's RV (409); malformed: unreadable (400); unsupported: a format not rewritten (415). */
  | { ok: false; reason: 'stale' | 'malformed' | 'unsupported'; message: string };

/** Rewrites the RVs of a JSON request body (objects, DeleteOptions, merge and strategic merge patches, JSON patch operations). */
export function rewriteJsonRequestBody(body: Buffer, codec: ShardRVCodec): BodyRewrite {
  if (body.length === 0) return { ok: true, body };
  return asBodyRewrite(() => rewriteJsonBody(body, requestRVMapper(codec)));
}

/** A rewriter's result as a BodyRewrite: 'stale' is a 409, a BRIDGE_ERR_REQUEST_BODY a 400. */
export function asBodyRewrite(rewrite: () => Buffer | 'stale'): BodyRewrite {
  try {
    const rewritten = rewrite();
    if (rewritten === 'stale') return { ok: false, reason: 'stale', message: 'a resourceVersion of an older epoch' };
    return { ok: true, body: rewritten };
  } catch (err) {
    if (!isBridgeError(err, 'BRIDGE_ERR_REQUEST_BODY')) throw err;
    return { ok: false, reason: 'malformed', message: err.message };
  }
}

export function rewriteJsonBody(body: Buffer, map: RVMap): Buffer | 'stale' {
  let parsed: unknown;
  try {
    parsed = parseJsonExact(body.toString('utf8'));
  } catch (err) {
    throw new BridgeError('BRIDGE_ERR_REQUEST_BODY', `JSON body: ${errorMessage(err)}`);
  }
  const ok = Array.isArray(parsed) ? rewriteJsonPatchRVs(parsed, map) : rewriteObjectRVs(parsed, map);
  return ok ? Buffer.from(JSON.stringify(parsed)) : 'stale';
}

export type RVMap = (rv: string) => string | undefined;

/** JSON pointers (RFC 6901) whose value is an RV, and those whose value is an object holding one. */
const RV_POINTERS = new Set(['/metadata/resourceVersion', '/preconditions/resourceVersion']);
const RV_HOLDERS = new Set(['', '/metadata', '/preconditions']);

/**
 * The RVs in JSON patch operations (`add`, `replace`, `test`) at an RV's pointer or at an object
 * holding one. A `test` of an older epoch's RV cannot succeed: its value is replaced by one no object
 * has, so kube-apiserver answers its own failed-test error, as it would have.
 */
function rewriteJsonPatchRVs(ops: unknown[], map: RVMap): boolean {
  for (const op of ops) {
    if (typeof op !== 'object' || op === null) continue;
    const operation = op as { op?: unknown; path?: unknown; value?: unknown };
    if (typeof operation.path !== 'string' || !['add', 'replace', 'test'].includes(operation.op as string)) continue;
    const path = operation.path;
    const mapValue: RVMap = operation.op === 'test' ? (rv) => map(rv) ?? 'older-epoch' : map;
    if (RV_POINTERS.has(path) && typeof operation.value === 'string') {
      const mapped = mapValue(operation.value);
      if (mapped === undefined) return false;
      operation.value = mapped;
    } else if (RV_HOLDERS.has(path)) {
      const holder = path === '' ? operation.value : { [path.slice(1)]: operation.value };
      if (!rewriteObjectRVs(holder, mapValue)) return false;
    }
  }
  return true;
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
