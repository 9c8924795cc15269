/**
 * Names, labels, annotations, headers and ports shared by every component (DESIGN.md section 6, a
 * contract). Dependency-free on purpose: the sidecar bundle, the manifests' tests and the CLI all
 * import it, and nothing here may pull in Node APIs or packages.
 */

// Labels and annotations.
/** The bridge's API group, and the prefix of its labels and annotations. */
export const API_GROUP = 'cluster-bridge.io';
export const INJECT_LABEL = 'cluster-bridge.io/inject';
export const INJECT_LABEL_VALUE = 'enabled';
export const INJECT_ANNOTATION = 'cluster-bridge.io/inject';
export const MODE_ANNOTATION = 'cluster-bridge.io/mode';
export const STATUS_ANNOTATION = 'cluster-bridge.io/status';
/** Pods of cluster-bridge itself carry this label; the webhook never injects them. */
export const COMPONENT_LABEL = 'cluster-bridge.io/component';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
/** Every object the bridge's tools create outside a manifest (Secrets, webhook configurations) carries PART_OF_LABEL: PART_OF_VALUE. */
export const PART_OF_LABEL = 'app.kubernetes.io/part-of';
export const PART_OF_VALUE = 'cluster-bridge';
/** On the fence's probe ConfigMap: the version of the policy that must refuse it (aggregator/fencing.ts). */
export const FENCE_VERSION_ANNOTATION = 'cluster-bridge.io/fence-version';
/** Namespaces of the webhook e2e suites carry this label; the lab's own injector skips them. */
export const E2E_WEBHOOK_LABEL = 'cluster-bridge.io/e2e-webhook';
/** The label every namespace of the migration demo carries (cli/demo-namespaces.ts), so a plan or a person can select them. */
export const DEMO_NAMESPACE_LABEL = 'cluster-bridge.io/demo';
/** The scratch namespace `bridgectl preflight` makes and deletes. */
export const PREFLIGHT_LABEL = 'cluster-bridge.io/preflight';
/** The demo's workload marks each object it has read back. */
export const DEMO_SEEN_ANNOTATION = 'demo.cluster-bridge.io/seen';
/** `reportingComponent` of the Events the webhook records on a pod's owner. */
export const WEBHOOK_REPORTING_COMPONENT = 'cluster-bridge.io/webhook';

// Annotations of mirrored copies (synchronizer, lib/mirror/copy.ts) and of the aggregator replicas' Leases.
/** The copy records which owner object (uid, resourceVersion) it was written from. */
export const MIRROR_OF_UID_ANNOTATION = `${API_GROUP}/mirror-of-uid`;
export const MIRROR_OF_RV_ANNOTATION = `${API_GROUP}/mirror-of-resource-version`;
/**
 * The identity clients are shown whichever cluster serves the object (lib/routing/object-identity.ts):
 * the UID and creationTimestamp of the object where it was first created. Carried from copy to copy,
 * so it survives a move and a move back (mirror-of-uid cannot: after a move back the original is
 * itself a copy of the destination's object, and names that one).
 */
export const ORIGINAL_UID_ANNOTATION = `${API_GROUP}/original-uid`;
export const ORIGINAL_CREATION_TIMESTAMP_ANNOTATION = `${API_GROUP}/original-creation-timestamp`;
/** On each aggregator replica's Lease: the replica (label) and the routing table generation it serves (annotation). */
export const REPLICA_LABEL = `${API_GROUP}/aggregator-replica`;
export const ROUTING_GENERATION_ANNOTATION = `${API_GROUP}/routing-generation`;

// Namespaces and objects.
export const SYSTEM_NAMESPACE = 'cluster-bridge-system';
export const CA_BUNDLE_CONFIGMAP = 'cluster-bridge-ca-bundle';
export const SIDECAR_TLS_SECRET = 'cluster-bridge-sidecar-tls';
export const KUBE_ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
export const WEBHOOK_SERVICE = 'cluster-bridge-webhook';
export const WEBHOOK_TLS_SECRET = 'cluster-bridge-webhook-tls';
export const WEBHOOK_CONFIGURATION = 'cluster-bridge-injector';
/** The aggregator's Service in the destination and the Secret its BRIDGE_TLS_DIR is mounted from. */
export const AGGREGATOR_SERVICE = 'cluster-bridge-aggregator';
export const AGGREGATOR_TLS_SECRET = 'cluster-bridge-aggregator-tls';
/** The synchronizer's Service (catch-up API) in the source and its TLS Secret. */
export const SYNCHRONIZER_SERVICE = 'cluster-bridge-synchronizer';
export const SYNCHRONIZER_TLS_SECRET = 'cluster-bridge-synchronizer-tls';
/** Each cluster's own machinery: never injected, moved or mirrored (DESIGN.md section 3). */
export const SYSTEM_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease', SYSTEM_NAMESPACE] as const;

// The sidecar.
export const SIDECAR_NAME = 'cluster-bridge-proxy';
export const SIDECAR_HOST = '127.0.0.1';
export const SIDECAR_PORT = 16443;
export const SIDECAR_OPS_PORT = 16080;
export const SIDECAR_TLS_DIR = '/var/run/cluster-bridge/tls';
export const SIDECAR_TLS_VOLUME = 'cluster-bridge-tls';
/** The non-root user the sidecar runs as (the conventional "nonroot" id, as in Dockerfile.sidecar). */
export const SIDECAR_UID = 65532;

/** What a hop does when its upstream (the aggregator) cannot be reached. */
export const FAIL_MODES = ['local', 'closed'] as const;
export type FailMode = (typeof FAIL_MODES)[number];

/** The in-cluster API service's name that a pod's environment points at (as KUBERNETES_SERVICE_HOST would). */
export const KUBERNETES_SERVICE_HOST_NAME = 'kubernetes.default.svc';
export const KUBERNETES_SERVICE_PORT = 443;
/** The names the in-cluster API service answers to; dns mode maps them to the aggregator, the lab's API servers serve them. */
export const KUBERNETES_SERVICE_NAMES = [
  'kubernetes',
  'kubernetes.default',
  KUBERNETES_SERVICE_HOST_NAME,
  `${KUBERNETES_SERVICE_HOST_NAME}.cluster.local`,
] as const;

// Identity and routing headers (trusted by the aggregator only from a sidecar over mTLS).
/** Every bridge header starts so (lower case, as Node gives header names); a workload may never send one. */
export const BRIDGE_HEADER_PREFIX = 'x-bridge-';
export const BRIDGE_POD_HEADER = 'X-Bridge-Pod';
export const BRIDGE_NAMESPACE_HEADER = 'X-Bridge-Namespace';
export const BRIDGE_NODE_HEADER = 'X-Bridge-Node';
export const BRIDGE_LOCATION_HEADER = 'X-Bridge-Location';
/**
 * Marks a request that a bridge hop has already forwarded (value: the hop that did, e.g. `sidecar`),
 * so the next hop never routes it again: routing is at most one hop (DESIGN.md section 3).
 */
export const BRIDGE_HOP_HEADER = 'X-Bridge-Hop';

// The rollout API (DESIGN.md section 6) and the bridge's own objects in the destination.
export const API_VERSION = 'v1alpha1';
export const ROLLOUT_KIND = 'BridgeRollout';
export const ROLLOUT_RESOURCE = 'bridgerollouts';
/** The field manager of every synchronizer write, so its managedFields entries can be told (and hidden) from the clients'. */
export const SYNCHRONIZER_FIELD_MANAGER = 'cluster-bridge-synchronizer';
/** Field manager of every server-side apply the bridge makes; how the synchronizer knows its own writes. */
export const FIELD_MANAGER = 'cluster-bridge';

// Components' default ports (serving, then the plain-HTTP ops port for health and metrics).
export const WEBHOOK_PORT = 8443;
export const WEBHOOK_OPS_PORT = 8080;
export const AGGREGATOR_PORT = 9443;
export const AGGREGATOR_OPS_PORT = 8080;
export const SYNCHRONIZER_PORT = 9444;
export const SYNCHRONIZER_OPS_PORT = 8081;
/** The routing table (lib/routing/types.ts RoutingTableStore) in the destination's SYSTEM_NAMESPACE. */
export const ROUTING_TABLE_CONFIGMAP = 'cluster-bridge-routing';
/**
 * Desired shard owners ({"configmaps": "destination", ...}, key `owners.json`) in the destination's
 * SYSTEM_NAMESPACE: written by the rollout controller or `bridgectl aggregator move`, acted on by the
 * leading aggregator, which changes owners one hand-off at a time.
 */
export const DESIRED_OWNERS_CONFIGMAP = 'cluster-bridge-desired-owners';
/** Whether the source can enforce the fence, as the leading aggregator found it (aggregator/handoff/fence-support.ts). */
export const FENCE_STATUS_CONFIGMAP = 'cluster-bridge-fence-status';
/** The Lease the aggregator replicas elect their leader on (the one that runs hand-offs). */
export const AGGREGATOR_LEASE = 'cluster-bridge-aggregator';
/** In the destination's system namespace: one synchronizer replica mirrors, the others stand by. */
export const SYNCHRONIZER_LEASE = 'cluster-bridge-synchronizer';
