/**
 * The request side of resourceVersion rewriting for a moved shard: the `resourceVersion` and
 * `continue` query parameters and the RVs in a body of any format, from presented values to the owner's.
 */
import { BridgeError, errorMessage, isBridgeError } from '../errors.js';
import { rewriteProtobufRVs } from './protobuf-rv.js';
import { mapContinueToken, parseJsonExact, requestRVMapper, rewriteObjectRVs, type ShardRVCodec } from './resource-version.js';
import { rewriteYamlRVs } from './yaml-rv.js';

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

export type BodyFormat = 'json' | 'yaml' | 'protobuf' | 'cbor' | 'other';

/**
 * The format of a request body by its Content-Type, as kube-apiserver reads it: no Content-Type is
 * JSON (the first media type it serves), parameters and case do not matter.
 */
export function bodyFormat(contentType: string | undefined): BodyFormat {
  const media = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (media === '' || media === 'application/json' || media.endsWith('+json')) return 'json';
  if (media === 'application/yaml' || media.endsWith('+yaml')) return 'yaml';
  if (media === 'application/vnd.kubernetes.protobuf') return 'protobuf';
  if (media === 'application/cbor' || media.endsWith('+cbor')) return 'cbor';
  return 'other';
}

/** kube-apiserver's media types for object bodies and for patches, in its order (CBOR off, as in v1.36). */
const OBJECT_MEDIA_TYPES = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'];
const PATCH_MEDIA_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/apply-patch+yaml',
];

/** kube-apiserver's 415 message (apiserver/pkg/endpoints/handlers/negotiation/errors.go). */
export function unsupportedMediaTypeMessage(patch: boolean): string {
  return `the body of the request was in an unknown format - accepted media types include: ${(patch ? PATCH_MEDIA_TYPES : OBJECT_MEDIA_TYPES).join(', ')}`;
}

/**
 * Rewrites the RVs of a request body for the backend, whatever its format: JSON (objects, lists,
 * DeleteOptions, merge and strategic merge patches, JSON patch operations), YAML, protobuf. CBOR and
 * unknown formats are refused with kube-apiserver's 415: client-go then sends JSON
 * (k8s.io/client-go v0.36 rest/client.go, requestClientContentConfigProvider.UnsupportedMediaType).
 */
export function rewriteRequestBody(body: Buffer, contentType: string | undefined, codec: ShardRVCodec, verb = ''): BodyRewrite {
  if (body.length === 0) return { ok: true, body };
  const format = bodyFormat(contentType);
  if (format === 'cbor' || format === 'other') return { ok: false, reason: 'unsupported', message: unsupportedMediaTypeMessage(verb === 'patch') };
  const map = requestRVMapper(codec);
  try {
    const rewritten = format === 'protobuf' ? rewriteProtobufRVs(body, map) : format === 'yaml' ? rewriteYamlBody(body, map) : rewriteJsonBody(body, map);
    if (rewritten === 'stale') return { ok: false, reason: 'stale', message: 'a resourceVersion of an older epoch' };
    return { ok: true, body: rewritten };
  } catch (err) {
    if (!isBridgeError(err, 'BRIDGE_ERR_REQUEST_BODY')) throw err;
    return { ok: false, reason: 'malformed', message: err.message };
  }
}

function rewriteYamlBody(body: Buffer, map: RVMap): Buffer | 'stale' {
  const text = body.toString('utf8');
  const rewritten = rewriteYamlRVs(text, map);
  return rewritten === 'stale' ? rewritten : rewritten === text ? body : Buffer.from(rewritten, 'utf8');
}

function rewriteJsonBody(body: Buffer, map: RVMap): Buffer | 'stale' {
  let parsed: unknown;
  try {
    parsed = parseJsonExact(body.toString('utf8'));
  } catch (err) {
    throw new BridgeError('BRIDGE_ERR_REQUEST_BODY', `JSON body: ${errorMessage(err)}`);
  }
  const ok = Array.isArray(parsed) ? rewriteJsonPatchRVs(parsed, map) : rewriteObjectRVs(parsed, map);
  return ok ? Buffer.from(JSON.stringify(parsed)) : 'stale';
}

type RVMap = (rv: string) => string | undefined;

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
