/**
 * The request side of resourceVersion rewriting for a moved shard: the `resourceVersion` and
 * `continue` query parameters and the RVs in a body of any format, from presented values to the owner's
 * (JSON and the query in json-request-rewrite.ts, re-exported here; YAML and protobuf added).
 */
import { asBodyRewrite, rewriteJsonBody, type BodyRewrite, type RVMap } from './json-request-rewrite.js';
import { rewriteProtobufRVs } from './protobuf-rv.js';
import { requestRVMapper, type ShardRVCodec } from './resource-version.js';
import { rewriteYamlRVs } from './yaml-rv.js';

export * from './json-request-rewrite.js';

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
  return asBodyRewrite(() =>
    format === 'protobuf' ? rewriteProtobufRVs(body, map) : format === 'yaml' ? rewriteYamlBody(body, map) : rewriteJsonBody(body, map),
  );
}

function rewriteYamlBody(body: Buffer, map: RVMap): Buffer | 'stale' {
  const text = body.toString('utf8');
  const rewritten = rewriteYamlRVs(text, map);
  return rewritten === 'stale' ? rewritten : rewritten === text ? body : Buffer.from(rewritten, 'utf8');
}
