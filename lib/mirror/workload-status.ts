/**
 * Workload objects as mirrored copies (DESIGN.md sections 3 and 5), as pure decisions: their status is
 * the source's, where the pods run, whichever side owns the spec; a Job keeps the selector and
 * controller-uid labels the source generated from its own UID.
 */
import { canonicalJson } from '../canonical-json.js';
import type { KubeObject } from '../kube/types.js';
import type { ShardKey } from '../routing/types.js';

/** Shards whose status is written by the source's controllers only (the destination runs them off: lib/mirror/workload-controllers.ts). */
export const SOURCE_STATUS_SHARDS: ReadonlySet<ShardKey> = new Set([
  'deployments.apps',
  'statefulsets.apps',
  'daemonsets.apps',
  'jobs.batch',
  'cronjobs.batch',
]);

export function hasSourceStatus(shard: ShardKey): boolean {
  return SOURCE_STATUS_SHARDS.has(shard);
}

/**
 * The body of a PUT to the destination object's `/status` that gives it the source's status, or
 * undefined when the destination already has it. The destination's object is sent as it is (the
 * `/status` subresource ignores everything but status, and its resourceVersion guards the write).
 */
export function statusUpdate(sourceObj: KubeObject, destinationObj: KubeObject): KubeObject | undefined {
  const status = sourceObj.status ?? {};
  if (canonicalJson(status) === canonicalJson(destinationObj.status ?? {})) return undefined;
  return { ...destinationObj, status };
}

export function isJob(obj: KubeObject): boolean {
  return obj.kind === 'Job' && typeof obj.apiVersion === 'string' && obj.apiVersion.startsWith('batch/');
}

/**
 * A Job's copy with `spec.manualSelector: true`. Without it the replica's API server treats the selector
 * as one to generate: it validates `controller-uid` in `spec.selector` against the copy's own new UID
 * and refuses the source's ("selector not auto-generated"); a copy without the selector would get a
 * second one, from the replica's UID, that matches none of the source's pods. With it, the selector
 * and the template's controller-uid labels are kept exactly as the source generated them. The flag is
 * the only difference the copy has, so mirroredContent compares it as true on both sides. An update
 * keeps the replica's own value: the cluster that created the Job (written back to when the other side
 * owns jobs.batch) keeps its `false`, and a copy's `true` is never turned back (its API server would
 * then refuse the foreign controller-uid again).
 */
export function withSourceSelector(copy: KubeObject, replicaManualSelector?: boolean): KubeObject {
  const spec = (copy.spec ?? {}) as Record<string, unknown>;
  return { ...copy, spec: { ...spec, manualSelector: replicaManualSelector ?? true } };
}
