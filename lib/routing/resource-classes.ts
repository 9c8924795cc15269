/**
 * The class of each resource (DESIGN.md section 3) as data: movable (declarative state, mirrored
 * and routed by shard), located (describes what runs in one cluster: always the source, never
 * mirrored) and system (each cluster's own machinery: never moved or mirrored). Types not in the
 * table, custom resources included, are movable. A plan can override any entry.
 */
import { API_GROUP, SYSTEM_NAMESPACES } from '../names.js';
import { shardKey } from './shard-hash.js';
import type { GroupResource, ResourceClass, ShardKey } from './types.js';

/** The two types, as shard keys: never moved (SOURCE_PINNED_SHARDS), mirrored source -> destination (lib/mirror/cluster-rbac.ts). */
export const CLUSTER_ROLES_SHARD = 'clusterroles.rbac.authorization.k8s.io';
export const CLUSTER_ROLE_BINDINGS_SHARD = 'clusterrolebindings.rbac.authorization.k8s.io';
export const CLUSTER_RBAC_SHARDS: readonly string[] = [CLUSTER_ROLES_SHARD, CLUSTER_ROLE_BINDINGS_SHARD];

/** The shards mirrored and moved by default (the synchronizer's BRIDGE_SHARDS, a plan's spec.shards): the declarative state workloads read and write most. */
export const DEFAULT_SHARDS: readonly ShardKey[] = [
  'configmaps',
  'secrets',
  'services',
  'serviceaccounts',
  'leases.coordination.k8s.io',
  'roles.rbac.authorization.k8s.io',
  'rolebindings.rbac.authorization.k8s.io',
];

/**
 * The types a namespace shard carries by default (the routing table's namespaceTypes, set at the
 * first namespace hand-off from the aggregator's BRIDGE_NAMESPACE_TYPES): every default shard is
 * namespaced, so all of them; workload kinds join where the synchronizer mirrors them.
 */
export const DEFAULT_NAMESPACE_TYPES: readonly ShardKey[] = DEFAULT_SHARDS;

/**
 * Movable types the source owns in every state (docs/adr/0013): cluster-wide RBAC. The destination
 * authorizes bridged callers (impersonated, authenticated by the source) with its own RBAC, so its
 * cluster grants must follow the source's, whichever shards have moved: an always-on one-way mirror
 * source -> destination copies them (synchronizer/server.ts), and a hand-off of them is refused
 * (routing-table.ts beginHandoff), so writes through the bridge always reach the source.
 */
export const SOURCE_PINNED_SHARDS: readonly ShardKey[] = CLUSTER_RBAC_SHARDS;

export function isSourcePinned(shard: ShardKey): boolean {
  return SOURCE_PINNED_SHARDS.includes(shard);
}

/** Keyed by shard key (`resource` for the core group, `resource.group` otherwise). */
export const DEFAULT_RESOURCE_CLASSES: Readonly<Record<ShardKey, ResourceClass>> = Object.freeze({
  // Located: where pods run and what reports on them.
  pods: 'located',
  nodes: 'located',
  events: 'located',
  'events.events.k8s.io': 'located',
  endpoints: 'located',
  'endpointslices.discovery.k8s.io': 'located',
  'replicasets.apps': 'located',
  'controllerrevisions.apps': 'located',
  bindings: 'located',
  persistentvolumes: 'located',
  'volumeattachments.storage.k8s.io': 'located',
  'csinodes.storage.k8s.io': 'located',
  'csistoragecapacities.storage.k8s.io': 'located',
  'resourceslices.resource.k8s.io': 'located',
  'resourceclaims.resource.k8s.io': 'located',
  // System: the cluster's own machinery and the bridge's own objects.
  componentstatuses: 'system',
  'apiservices.apiregistration.k8s.io': 'system',
  'mutatingwebhookconfigurations.admissionregistration.k8s.io': 'system',
  'validatingwebhookconfigurations.admissionregistration.k8s.io': 'system',
  'validatingadmissionpolicies.admissionregistration.k8s.io': 'system',
  'validatingadmissionpolicybindings.admissionregistration.k8s.io': 'system',
  'mutatingadmissionpolicies.admissionregistration.k8s.io': 'system',
  'mutatingadmissionpolicybindings.admissionregistration.k8s.io': 'system',
  'certificatesigningrequests.certificates.k8s.io': 'system',
  'clustertrustbundles.certificates.k8s.io': 'system',
  'tokenreviews.authentication.k8s.io': 'system',
  'selfsubjectreviews.authentication.k8s.io': 'system',
  'subjectaccessreviews.authorization.k8s.io': 'system',
  'selfsubjectaccessreviews.authorization.k8s.io': 'system',
  'selfsubjectrulesreviews.authorization.k8s.io': 'system',
  'localsubjectaccessreviews.authorization.k8s.io': 'system',
  'flowschemas.flowcontrol.apiserver.k8s.io': 'system',
  'prioritylevelconfigurations.flowcontrol.apiserver.k8s.io': 'system',
  'servicecidrs.networking.k8s.io': 'system',
  'ipaddresses.networking.k8s.io': 'system',
  'storageversions.internal.apiserver.k8s.io': 'system',
  'storageversionmigrations.storagemigration.k8s.io': 'system',
  [`bridgerollouts.${API_GROUP}`]: 'system',
});

/**
 * Subresources served by the cluster where the object physically is, whatever the parent's class:
 * a ServiceAccount token is signed by the source's key for pods in the source; a Service or Node
 * proxy reaches endpoints that exist only there.
 */
const LOCATED_SUBRESOURCES = new Set(['token', 'proxy']);

/**
 * The only subresources a movable type serves (the located ones aside): a custom resource has no
 * other, nor has any built-in type a hand-off moves. Any other names nothing that moves (a path such as
 * `configmaps/../secrets` reads as subresource `secrets` of configmaps), so the source answers it,
 * exactly as kube-apiserver would (403 or 404), and the destination is never asked to act as the
 * caller on it (its aggregator may impersonate on status and scale only: docs/adr/0022).
 */
const MOVABLE_SUBRESOURCES = new Set(['status', 'scale']);

const SYSTEM_NAMESPACE_SET: ReadonlySet<string> = new Set(SYSTEM_NAMESPACES);

export function isSystemNamespace(namespace: string): boolean {
  return SYSTEM_NAMESPACE_SET.has(namespace);
}

/** The class of a type, with a plan's overrides taking precedence over the defaults. */
export function classOf(gr: GroupResource, overrides?: Readonly<Record<ShardKey, ResourceClass>>): ResourceClass {
  const key = shardKey(gr.group, gr.resource);
  return overrides?.[key] ?? DEFAULT_RESOURCE_CLASSES[key] ?? 'movable';
}

export interface ClassifyInput extends GroupResource {
  namespace: string;
  subresource?: string;
}

/**
 * The class of one request's target or one object: system namespaces are the cluster's own, then
 * located subresources, then the type's class. A Namespace object named like a system namespace is
 * system too (`namespace` is its own name for namespaces, as RequestInfo reports it).
 */
export function classify(input: ClassifyInput, overrides?: Readonly<Record<ShardKey, ResourceClass>>): ResourceClass {
  if (input.namespace !== '' && isSystemNamespace(input.namespace)) return 'system';
  if (input.subresource && LOCATED_SUBRESOURCES.has(input.subresource)) return 'located';
  const cls = classOf(input, overrides);
  return cls === 'movable' && input.subresource && !MOVABLE_SUBRESOURCES.has(input.subresource) ? 'located' : cls;
}
