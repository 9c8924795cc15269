/**
 * What a mirrored copy of an object looks like (DESIGN.md section 5), as pure functions: the fields
 * the replica's API server must set itself are stripped, the server-chosen and immutable fields the
 * owner chose are kept (Service clusterIP/clusterIPs, ipFamilies, nodePorts, healthCheckNodePort; PVC
 * volumeName; names), the copy is annotated with the owner object it mirrors, its ownerReferences are
 * the ones given (remapped to the replica's UIDs by lib/mirror/owner-references.ts), and each cluster's own
 * objects are never copied.
 */
import { canonicalJson } from '../canonical-json.js';
import { clusterRbacSkip, withReplicaRules } from './cluster-rbac.js';
import { CLUSTER_RBAC_SHARDS, isSystemNamespace } from '../routing/resource-classes.js';
import type { KubeObject, OwnerReference } from '../kube/types.js';
import { MIRROR_OF_RV_ANNOTATION, MIRROR_OF_UID_ANNOTATION, ORIGINAL_CREATION_TIMESTAMP_ANNOTATION, ORIGINAL_UID_ANNOTATION } from '../names.js';
import { BRIDGE_ANNOTATIONS, originalIdentity } from '../routing/object-identity.js';
import { isJob, withSourceSelector } from './workload-status.js';

/** Metadata every API server sets for itself; copying it would be refused or wrong. */
const SERVER_METADATA = [
  'uid',
  'resourceVersion',
  'creationTimestamp',
  'managedFields',
  'generation',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
];

export type SkipReason = 'system-namespace' | 'cluster-own-object' | 'service-account-token' | 'terminating' | undefined;

/**
 * Objects each cluster makes for itself, which a mirror would overwrite with the other cluster's:
 * the CA bundle ConfigMap in every namespace, the `kubernetes` Service, default ServiceAccounts and
 * their legacy token Secrets, and the cluster RBAC each cluster reconciles or installs for itself
 * (lib/mirror/cluster-rbac.ts: bootstrap, `system:` and the bridge's own).
 */
export function skipReason(shard: string, obj: KubeObject): SkipReason {
  const { name, namespace } = obj.metadata;
  if (namespace && isSystemNamespace(namespace)) return 'system-namespace';
  if (shard === 'namespaces' && isSystemNamespace(name)) return 'system-namespace';
  if (shard === 'namespaces' && name === 'default') return 'cluster-own-object';
  if (shard === 'configmaps' && name === 'kube-root-ca.crt') return 'cluster-own-object';
  if (shard === 'services' && namespace === 'default' && name === 'kubernetes') return 'cluster-own-object';
  if (shard === 'serviceaccounts' && name === 'default') return 'cluster-own-object';
  if (shard === 'secrets' && (obj as { type?: string }).type === 'kubernetes.io/service-account-token') return 'service-account-token';
  if (CLUSTER_RBAC_SHARDS.includes(shard) && clusterRbacSkip(obj)) return 'cluster-own-object';
  if (obj.metadata.deletionTimestamp) return 'terminating';
  return undefined;
}

/** An object as another cluster's create should carry it: without what the API server sets for itself, and without status. */
export function withoutServerFields(obj: KubeObject): KubeObject {
  const metadata: KubeObject['metadata'] = { ...obj.metadata };
  for (const field of SERVER_METADATA) delete metadata[field];
  const copy: KubeObject = { ...obj, metadata };
  delete copy.status;
  return copy;
}

/**
 * The owner's object as the replica should hold it, for a create (no resourceVersion) or an update.
 * `ownerReferences` are the owner's, already remapped to the replica's UIDs; without them the copy has none.
 * `replica`: the replica's object an update overwrites, whose fields fixed at creation are kept (a Job's manualSelector),
 * and whose computed rules an aggregated ClusterRole keeps.
 */
export function replicaCopy(
  owner: KubeObject,
  replicaResourceVersion?: string,
  ownerReferences: readonly OwnerReference[] = [],
  replica?: KubeObject,
): KubeObject {
  const stripped = withoutServerFields(owner);
  const metadata = stripped.metadata;
  const annotations = { ...(owner.metadata.annotations ?? {}) };
  for (const key of BRIDGE_ANNOTATIONS) delete annotations[key];
  annotations[MIRROR_OF_UID_ANNOTATION] = owner.metadata.uid ?? '';
  annotations[MIRROR_OF_RV_ANNOTATION] = owner.metadata.resourceVersion ?? '';
  const original = originalIdentity(owner);
  if (original.uid) annotations[ORIGINAL_UID_ANNOTATION] = original.uid;
  if (original.creationTimestamp) annotations[ORIGINAL_CREATION_TIMESTAMP_ANNOTATION] = original.creationTimestamp;
  metadata.annotations = annotations;
  // The owner's references name UIDs of its own cluster: the replica's garbage collector would delete
  // a copy carrying them. Only remapped ones are written.
  if (ownerReferences.length > 0) metadata.ownerReferences = ownerReferences.map((ref) => ({ ...ref }));
  else delete metadata.ownerReferences;
  if (replicaResourceVersion !== undefined) metadata.resourceVersion = replicaResourceVersion;
  // Status belongs to the cluster where the object is acted on (workload status is the source's): withoutServerFields dropped it.
  // An aggregated ClusterRole's rules are the replica's own controller's (lib/mirror/cluster-rbac.ts).
  const copy = withReplicaRules({ ...stripped, metadata }, replica);
  if (!isJob(owner)) return copy;
  return withSourceSelector(copy, (replica?.spec as { manualSelector?: boolean } | undefined)?.manualSelector);
}

/**
 * The part of an object a mirror is responsible for, to decide whether the replica is already equal;
 * without ownerReferences, whose UIDs differ between the clusters by design.
 */
export function mirroredContent(obj: KubeObject): unknown {
  const copy = replicaCopy(obj); // a Job's manualSelector: true on both sides (lib/mirror/workload-status.ts)
  const annotations = { ...(copy.metadata.annotations ?? {}) };
  for (const key of BRIDGE_ANNOTATIONS) delete annotations[key];
  return { ...copy, metadata: { ...copy.metadata, annotations } };
}

/**
 * True when the replica already holds what the owner has: no write is needed (no echo, no ping-pong).
 * `ownerReferences` are the owner's remapped to the replica's UIDs, as replicaCopy writes them.
 * Both must show the same original identity: a copy that lacks it (written by an earlier synchronizer,
 * or its marks removed by hand) is written again, while an original the owner's object is a copy of
 * needs no mark to show its own.
 */
export function sameMirroredContent(owner: KubeObject, replica: KubeObject, ownerReferences: readonly OwnerReference[] = []): boolean {
  return canonicalJson(originalIdentity(owner)) === canonicalJson(originalIdentity(replica)) && sameContent(owner, replica, ownerReferences);
}

/** The same content whatever the identity: a replica's own object (never a copy) equal to the owner's is adopted (lib/mirror/cluster-rbac.ts). */
export function sameContent(owner: KubeObject, replica: KubeObject, ownerReferences: readonly OwnerReference[] = []): boolean {
  return (
    canonicalJson(mirroredContent(owner)) === canonicalJson(mirroredContent(replica)) &&
    canonicalJson(ownerReferences) === canonicalJson(replica.metadata.ownerReferences ?? [])
  );
}

/** An object the aggregator created on the source first, not yet adopted by the synchronizer (its mirror-of-uid is still empty). */
export function isSourceFirstPending(obj: KubeObject): boolean {
  return obj.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION] === '';
}

/** Whether a replica object was written by the mirror (only those are deleted when the owner's goes). */
export function isMirrorCopy(obj: KubeObject): boolean {
  return obj.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION] !== undefined;
}

/** The replica's garbage collector's own finalizers (from a propagation policy): its collector removes them. */
const COLLECTOR_FINALIZERS: ReadonlySet<string> = new Set(['orphan', 'foregroundDeletion']);

/**
 * A copy's finalizers once its owner object is gone: those it got from the owner were removed there,
 * by the owner cluster's controllers, before the owner object could go, and no controller of the
 * replica acts on them (a terminating owner object is not mirrored, so their removal never reaches the
 * copy). Only the replica collector's own stay. Undefined: nothing to remove.
 */
export function finalizersAfterOwnerGone(copy: KubeObject): string[] | undefined {
  const finalizers = (copy.metadata.finalizers as string[] | undefined) ?? [];
  const kept = finalizers.filter((f) => COLLECTOR_FINALIZERS.has(f));
  return kept.length < finalizers.length ? kept : undefined;
}
