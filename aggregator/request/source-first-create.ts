/**
 * A create whose values only the source may choose (source-allocation.ts) while the destination owns
 * the shard, in three steps (DESIGN.md section 3, patent 0094-0096):
 *  1. a dry run on the destination as the caller: the owner authorizes, admits and validates the
 *     create, so one it would refuse never touches the source;
 *  2. the create on the source as the bridge (the source's fence lets only the bridge write a moved
 *     shard), which allocates the values; a JSON body is marked as a mirror copy, so the synchronizer
 *     adopts it, or removes it should step 3 never complete;
 *  3. the create on the destination as the caller, with the source's values: the client's object with
 *     them (JSON), or the source's object without what its API server set for itself (a protobuf body,
 *     as typed client-go clients and `kubectl create service` send, which the bridge does not decode).
 * A server-side apply takes the same steps when the owner's dry run says it would create the object
 * (201): the source gets the applied object as a create, and the destination the apply itself with the
 * source's values added (so the caller's field manager owns them, the one difference from a single
 * cluster: a later apply that leaves them out keeps them, as Service updates keep allocated values). An
 * apply the dry run says would update (200) is not answered here: its dry run goes on to
 * source-first-update.ts, which makes it on the source first if it allocates (source-first-apply.ts).
 * The client gets step 3's answer only once both objects exist, so a read after it finds the object
 * on either side (0096). If the destination refuses step 3 (a quota or policy changed since the dry
 * run), the source's object is deleted again, with its UID as precondition, and the client gets the
 * destination's refusal.
 */
import type { ServerResponse } from 'node:http';
import type { ClusterConnection } from '../../lib/kube/cluster-connection.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/process/logger.js';
import { withoutServerFields } from '../../lib/mirror/copy.js';
import { MIRROR_OF_UID_ANNOTATION } from '../../lib/names.js';
import { type KubeObject } from '../../lib/kube/types.js';
import type { ShardRVCodec } from '../../lib/routing/resource-version.js';
import { callBackend } from './backend-call.js';
import { sendBuffered, type BufferedResponse } from '../../lib/routing/rewritten-response.js';
import { parseCreateBody, withSourceAllocation } from './source-allocation.js';
import { backendUnavailable, sendStatus } from '../../lib/routing/status-responses.js';

export interface SourceFirstCreate {
  shard: string;
  /** A POST, or a server-side apply (PATCH) that may create. */
  write: 'create' | 'apply';
  /** The client's path (query included, RVs already rewritten for the destination). */
  path: string;
  /** The headers that carry the caller's identity to the destination, for a body of `length` bytes. */
  headersForBody(length: number): string[];
  /** The client's body as it came (JSON or protobuf) and its content type. */
  body: Buffer;
  contentType: string;
  /** The body parsed, when it is a JSON object (or an apply's YAML); an apply needs it. */
  requested: KubeObject | undefined;
  source: ClusterConnection;
  destination: ClusterConnection;
  codec: ShardRVCodec | undefined;
  log: Logger;
}

/** How it ended, for the metric; `status` is the HTTP code the client got. */
export type SourceFirstOutcome =
  | 'created'
  | 'refused-by-destination-dry-run'
  | 'refused-by-source'
  | 'refused-by-destination'
  | 'source-copy-left'
  | 'backend-unreachable'
  /** An apply the owner's dry run says would update: not answered here (source-first-apply.ts). */
  | 'not-a-create';

/** How createSourceFirst ended; an apply that would update carries the owner's dry run (the object it would make). */
export type SourceFirstCreateResult =
  { outcome: Exclude<SourceFirstOutcome, 'not-a-create'>; status: number } | { outcome: 'not-a-create'; status: 200; dryRun: BufferedResponse };

export const BACKEND_TIMEOUT_MS = 30_000;

/** The path with the query parameter `name` set to `value` alone (any the client sent is replaced). */
export function withQueryParam(path: string, name: string, value: string): string {
  const q = path.indexOf('?');
  const kept = (q < 0 ? '' : path.slice(q + 1)).split('&').filter((pair) => pair !== '' && queryName(pair) !== name);
  return `${withoutQuery(path)}?${[...kept, `${name}=${encodeURIComponent(value)}`].join('&')}`;
}

function queryName(pair: string): string {
  const raw = pair.split('=')[0]!.replaceAll('+', ' ');
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

export function withoutQuery(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

/** The collection a create goes to: the path itself for a POST, the object's parent for an apply. */
function collectionPath(call: SourceFirstCreate): string {
  const path = withoutQuery(call.path);
  return call.write === 'create' ? path : path.slice(0, path.lastIndexOf('/'));
}

/** The client's write (POST or apply PATCH) to a backend with the bridge's credentials (impersonating the caller in the destination), answered in full. */
function send(
  call: SourceFirstCreate,
  cluster: ClusterConnection,
  path: string,
  headers: string[],
  body: Buffer,
  method = call.write === 'create' ? 'POST' : 'PATCH',
) {
  return callBackend(cluster, { method, path, headers, agent: cluster.asBridge, body, timeoutMs: BACKEND_TIMEOUT_MS });
}

/** The caller's headers with another content type (the copy in step 3 is JSON whatever the client sent). */
export function withContentType(headers: string[], contentType: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() !== 'content-type') out.push(headers[i]!, headers[i + 1]!);
  return [...out, 'Content-Type', contentType];
}

/** Headers for a write to the source with the bridge's own credentials (client certificate or token), asking for JSON. */
export function asBridgeHeaders(source: ClusterConnection, contentType: string, body: Buffer): string[] {
  const headers = ['Host', source.url.host, 'Content-Type', contentType, 'Content-Length', String(body.length), 'Accept', 'application/json'];
  for (const [name, value] of Object.entries(source.bridgeHeaders)) headers.push(name, value);
  return headers;
}

/** Step 2: a POST as the bridge, the client's body, a JSON answer. */
function createOnSource(call: SourceFirstCreate, body: Buffer, contentType: string): Promise<BufferedResponse> {
  // An apply's query (fieldManager, force) means nothing to a POST: the source's copy is the synchronizer's to keep.
  return send(call, call.source, call.write === 'create' ? call.path : collectionPath(call), asBridgeHeaders(call.source, contentType, body), body, 'POST');
}

export const isSuccess = (status: number) => status >= 200 && status < 300;

/** Removes the source's object after the destination refused its copy; false if it is still there. */
async function undoSourceCreate(call: SourceFirstCreate, created: KubeObject): Promise<boolean> {
  const path = `${collectionPath(call)}/${encodeURIComponent(created.metadata.name)}`;
  try {
    const result = await call.source.rest.request('DELETE', path, { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: created.metadata.uid } });
    if (isSuccess(result.status) || result.status === 404) return true;
    call.log.error({ shard: call.shard, object: path, status: result.status }, 'cannot remove the source object of a create the destination refused');
  } catch (err) {
    call.log.error({ shard: call.shard, object: path, err: errorMessage(err) }, 'cannot remove the source object of a create the destination refused');
  }
  return false;
}

/** Step 2's body: a JSON object marked as a mirror copy, anything else as the client sent it. */
function sourceBody(call: SourceFirstCreate): { body: Buffer; contentType: string } {
  if (!call.requested) return { body: call.body, contentType: call.contentType };
  const { metadata } = call.requested;
  const marked = { ...call.requested, metadata: { ...metadata, annotations: { ...(metadata.annotations ?? {}), [MIRROR_OF_UID_ANNOTATION]: '' } } };
  return { body: Buffer.from(JSON.stringify(marked)), contentType: 'application/json' };
}

/** Runs the three steps and answers the client. */
export async function createSourceFirst(call: SourceFirstCreate, res: ServerResponse): Promise<SourceFirstCreateResult> {
  let answer: BufferedResponse;
  try {
    answer = await send(call, call.destination, withQueryParam(call.path, 'dryRun', 'All'), call.headersForBody(call.body.length), call.body);
  } catch (err) {
    backendUnavailable(res, 'destination', errorMessage(err));
    return { outcome: 'backend-unreachable', status: 503 };
  }
  if (call.write === 'apply' && answer.status === 200) return { outcome: 'not-a-create', status: 200, dryRun: answer };
  if (!isSuccess(answer.status)) {
    sendBuffered(res, answer, call.codec);
    return { outcome: 'refused-by-destination-dry-run', status: answer.status };
  }

  let created: KubeObject | undefined;
  try {
    const toSource = sourceBody(call);
    const result = await createOnSource(call, toSource.body, toSource.contentType);
    if (!isSuccess(result.status)) {
      // The source's own refusal (an existing name, a quota, an exhausted range), as it worded it.
      sendBuffered(res, result, undefined);
      return { outcome: 'refused-by-source', status: result.status };
    }
    created = parseCreateBody(result.body);
  } catch (err) {
    backendUnavailable(res, 'source', errorMessage(err));
    return { outcome: 'backend-unreachable', status: 503 };
  }
  if (!created) {
    sendStatus(res, 502, 'InternalError', 'the source API server answered a create with no object');
    return { outcome: 'source-copy-left', status: 502 };
  }

  const copy = Buffer.from(JSON.stringify(call.requested ? withSourceAllocation(call.requested, created) : withoutServerFields(created)));
  try {
    const contentType = call.write === 'create' ? 'application/json' : call.contentType;
    answer = await send(call, call.destination, call.path, withContentType(call.headersForBody(copy.length), contentType), copy);
  } catch (err) {
    const removed = await undoSourceCreate(call, created);
    backendUnavailable(res, 'destination', errorMessage(err));
    return { outcome: removed ? 'backend-unreachable' : 'source-copy-left', status: 503 };
  }
  if (!isSuccess(answer.status)) {
    const removed = await undoSourceCreate(call, created);
    sendBuffered(res, answer, call.codec);
    return { outcome: removed ? 'refused-by-destination' : 'source-copy-left', status: answer.status };
  }
  sendBuffered(res, answer, call.codec);
  return { outcome: 'created', status: answer.status };
}
