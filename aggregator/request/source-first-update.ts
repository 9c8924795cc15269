/**
 * An update of a Service that makes its API server allocate (a type change to NodePort or
 * LoadBalancer, a new port of a NodePort Service, ExternalName to ClusterIP) while the destination
 * owns services: the values must come from the source, as for a create (source-first-create.ts). It
 * covers PUTs, JSON, merge and strategic merge patches, and server-side applies the destination's dry
 * run says would update (source-first-apply.ts, which passes that dry run on):
 *  1. a dry run of the client's update on the destination as the caller; the destination's current
 *     object, read as the caller too, tells whether it would allocate anything. If not (most updates), or
 *     if the dry run fails (a webhook that cannot dry-run), the update goes on as any other;
 *  2. the client's own update on the source's copy, as the bridge: the same patch, or the same object
 *     without the destination's uid and resourceVersion, or the same apply with force=true (the
 *     synchronizer's Update writes own the source's fields, such as spec.type). Values the client chose
 *     are kept, the rest the source allocates; the source's refusal (a port it has taken) is the
 *     client's answer;
 *  3. on the destination, as the caller: the dry run's object with the source's values, under the
 *     resourceVersion it was computed from (a change since is the client's 409); for an apply, the
 *     apply itself (the client's query, force included) with the source's values added to the applied
 *     object, so the caller's field manager owns them, as for an apply that creates.
 * If step 3 fails, the source's copy is ahead of the owner; the synchronizer's next pass writes the
 * owner's version back over it. Protobuf bodies (a PUT from a typed client-go client) are not covered:
 * the bridge does not decode protobuf, so it cannot tell what they allocate; they go on as any other.
 */
import type { ServerResponse } from 'node:http';
import type { ClusterConnection } from '../../lib/kube/cluster-connection.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/process/logger.js';
import type { KubeObject } from '../../lib/kube/types.js';
import type { ShardRVCodec } from '../../lib/routing/resource-version.js';
import { callBackend } from './backend-call.js';
import { sendBuffered, type BufferedResponse } from '../../lib/routing/rewritten-response.js';
import { newlyAllocated, parseCreateBody, withSourceAllocation } from './source-allocation.js';
import { asBridgeHeaders, BACKEND_TIMEOUT_MS, isSuccess, withContentType, withQueryParam, withoutQuery } from './source-first-create.js';
import { backendUnavailable } from '../../lib/routing/status-responses.js';

interface UpdateCall {
  shard: string;
  /** The client's path (query included, RVs already rewritten for the destination). */
  path: string;
  headersForBody(length: number): string[];
  body: Buffer;
  contentType: string;
  source: ClusterConnection;
  destination: ClusterConnection;
  codec: ShardRVCodec | undefined;
  log: Logger;
}

/** A PUT or JSON patch; or an apply, with the applied object and its dry run on the destination as the caller. */
export type SourceFirstUpdate = UpdateCall & ({ method: 'PUT' | 'PATCH' } | { method: 'apply'; requested: KubeObject; dryRun: BufferedResponse });

export type SourceFirstUpdateOutcome = 'updated' | 'not-allocating' | 'refused-by-source' | 'refused-by-destination' | 'backend-unreachable';

/** One request as the bridge's credentials allow (impersonating the caller in the destination, by `headers`). */
function send(cluster: ClusterConnection, method: string, path: string, headers: string[], body?: Buffer): Promise<BufferedResponse> {
  return callBackend(cluster, { method, path, headers, agent: cluster.asBridge, body, timeoutMs: BACKEND_TIMEOUT_MS });
}

const parsed = (answer: BufferedResponse) => parseCreateBody(answer.body);

/** Step 2: a patch as it came; an object without what only names the destination's copy; an apply that takes every field it names. */
function sourceWrite(call: SourceFirstUpdate): { method: string; path: string; body: Buffer } | undefined {
  if (call.method === 'apply') return { method: 'PATCH', path: withQueryParam(call.path, 'force', 'true'), body: call.body };
  if (call.method === 'PATCH') return { method: 'PATCH', path: call.path, body: call.body };
  const object = parseCreateBody(call.body);
  if (!object) return undefined;
  const { uid: _uid, resourceVersion: _rv, ...metadata } = object.metadata;
  return { method: 'PUT', path: call.path, body: Buffer.from(JSON.stringify({ ...object, metadata })) };
}

/** Step 3: the apply with the source's values in the applied object, or the dry run's object with them, as it was read. */
function destinationWrite(
  call: SourceFirstUpdate,
  wouldBe: KubeObject,
  current: KubeObject,
  allocated: KubeObject,
): { method: string; body: Buffer; contentType: string } {
  if (call.method === 'apply')
    return { method: 'PATCH', body: Buffer.from(JSON.stringify(withSourceAllocation(call.requested, allocated))), contentType: call.contentType };
  const copy = withSourceAllocation(wouldBe, allocated);
  copy.metadata = { ...copy.metadata, resourceVersion: current.metadata.resourceVersion };
  return { method: 'PUT', body: Buffer.from(JSON.stringify(copy)), contentType: 'application/json' };
}

/** Runs the steps; 'not-allocating' answers nothing, and the proxy sends the client's update as it came. */
export async function updateSourceFirst(call: SourceFirstUpdate, res: ServerResponse): Promise<{ outcome: SourceFirstUpdateOutcome; status: number }> {
  const objectPath = withoutQuery(call.path);
  const notAllocating = { outcome: 'not-allocating' as const, status: 0 };
  let current: KubeObject | undefined;
  let wouldBe: KubeObject | undefined;
  try {
    const [dryRun, before] = await Promise.all([
      call.method === 'apply'
        ? call.dryRun
        : send(call.destination, call.method, withQueryParam(call.path, 'dryRun', 'All'), call.headersForBody(call.body.length), call.body),
      // As the caller, as the dry run: the bridge's own identity in the destination reads no Services.
      send(call.destination, 'GET', objectPath, call.headersForBody(0)),
    ]);
    if (!isSuccess(dryRun.status) || before.status !== 200) return notAllocating;
    [wouldBe, current] = [parsed(dryRun), parsed(before)];
  } catch {
    return notAllocating; // the update itself will meet (and report) what failed here
  }
  const toSource = sourceWrite(call);
  if (!wouldBe || !current || !toSource || !newlyAllocated(current, wouldBe)) return notAllocating;

  let allocated: KubeObject | undefined;
  try {
    const answer = await send(call.source, toSource.method, toSource.path, asBridgeHeaders(call.source, call.contentType, toSource.body), toSource.body);
    if (!isSuccess(answer.status)) {
      // The source's own refusal (a nodePort its nodes already use), as it worded it.
      sendBuffered(res, answer, undefined);
      return { outcome: 'refused-by-source', status: answer.status };
    }
    allocated = parsed(answer);
  } catch (err) {
    backendUnavailable(res, 'source', errorMessage(err));
    return { outcome: 'backend-unreachable', status: 503 };
  }
  if (!allocated) return notAllocating;

  const { method, body, contentType } = destinationWrite(call, wouldBe, current, allocated);
  try {
    const answer = await send(call.destination, method, call.path, withContentType(call.headersForBody(body.length), contentType), body);
    if (!isSuccess(answer.status))
      call.log.warn(
        { shard: call.shard, object: objectPath, status: answer.status },
        'the destination refused an update the source made first; the synchronizer restores the source',
      );
    sendBuffered(res, answer, call.codec);
    return { outcome: isSuccess(answer.status) ? 'updated' : 'refused-by-destination', status: answer.status };
  } catch (err) {
    backendUnavailable(res, 'destination', errorMessage(err));
    return { outcome: 'backend-unreachable', status: 503 };
  }
}
