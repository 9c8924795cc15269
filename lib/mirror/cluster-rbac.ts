/**
 * Cluster-wide RBAC in the destination follows the source's (docs/adr/0013), as pure rules: which
 * ClusterRoles and ClusterRoleBindings the always-on source -> destination mirror copies, and how an
 * aggregated ClusterRole's copy differs from other copies. The bridge sends destination-bound requests
 * as the bridge impersonating the caller the source authenticated, so the destination's RBAC decides;
 * without these copies, a ServiceAccount granted its rights by a ClusterRoleBinding on the source got
 * 403 from the destination for every shard that had moved.
 */
import { BridgeError } from '../errors.js';

/** The label and value kube-apiserver's RBAC bootstrap (bootstrappolicy.addDefaultMetadata) puts on every ClusterRole and ClusterRoleBinding it reconciles. */
export const RBAC_BOOTSTRAP_LABEL = 'kubernetes.io/bootstrapping';
export const RBAC_BOOTSTRAP_VALUE = 'rbac-defaults';

/** The bridge's own ClusterRoles and bindings (manifests/: cluster-bridge-aggregator, -synchronizer, -webhook, ...): each cluster has its own. */
export const BRIDGE_RBAC_PREFIX = 'cluster-bridge-';

interface RbacObject {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/**
 * Why a ClusterRole or ClusterRoleBinding is not copied:
 * - `rbac-bootstrap`: kube-apiserver creates and reconciles it in each cluster at every start
 *   (`cluster-admin`, `admin`, `edit`, `view`, `system:*`), for its own version; a copy would be
 *   overwritten, or would overwrite the destination's newer rules;
 * - `system-name`: `system:` is reserved for Kubernetes and each cluster's components (kube-proxy, a
 *   CNI, metrics-server's `system:aggregated-metrics-reader`), which create their own in each cluster;
 * - `bridge-own`: the bridge's own rights, installed in each cluster for what it does there.
 */
export type ClusterRbacSkip = 'rbac-bootstrap' | 'system-name' | 'bridge-own';

export function clusterRbacSkip(obj: RbacObject): ClusterRbacSkip | undefined {
  const { name, labels } = obj.metadata;
  if (labels?.[RBAC_BOOTSTRAP_LABEL] === RBAC_BOOTSTRAP_VALUE) return 'rbac-bootstrap';
  if (name.startsWith('system:')) return 'system-name';
  if (name.startsWith(BRIDGE_RBAC_PREFIX)) return 'bridge-own';
  return undefined;
}

/** A ClusterRole whose rules each cluster's clusterrole-aggregation controller computes from the ClusterRoles its selectors match. */
export function isAggregated(obj: RbacObject): boolean {
  return typeof obj.aggregationRule === 'object' && obj.aggregationRule !== null;
}

/**
 * An aggregated ClusterRole's copy carries the owner's aggregationRule, never the owner's computed
 * rules: the replica's controller computes them from the replica's ClusterRoles. An update keeps the
 * rules the replica computed (`replica`), so the role never grants nothing in between; a create has
 * none until the controller fills them in. Without `replica` (what a mirror compares: lib/mirror/copy.ts
 * mirroredContent), the computed rules are simply left out. Other objects are returned unchanged.
 */
export function withReplicaRules<T extends RbacObject>(copy: T, replica?: RbacObject): T {
  if (!isAggregated(copy)) return copy;
  const { rules: _owners, ...rest } = copy;
  return (replica?.rules !== undefined ? { ...rest, rules: replica.rules } : rest) as T;
}

/**
 * A binding whose roleRef changed (deleted and created again under the same name on the owner, seen
 * by a relist): roleRef is immutable, so the copy must be deleted and created, not updated.
 */
export function roleRefChanged(owner: RbacObject, replica: RbacObject): boolean {
  if (owner.roleRef === undefined || replica.roleRef === undefined) return false;
  const ref = (o: RbacObject) => {
    const r = o.roleRef as { apiGroup?: string; kind?: string; name?: string };
    return `${r.apiGroup ?? ''}/${r.kind ?? ''}/${r.name ?? ''}`;
  };
  return ref(owner) !== ref(replica);
}

/**
 * A same-named object the replica had before the mirror, different from the owner's: a mirror that
 * keeps the replica's originals (cluster RBAC, whose same-named objects in the destination may be its
 * platform's own) neither overwrites nor deletes it, and reports it until someone settles it.
 */
export class ReplicaOriginalKept extends BridgeError {
  readonly reason = 'replica-original-kept';

  constructor(kind: string, name: string, replica: string) {
    super('BRIDGE_ERR_SYNC', `the ${replica} has its own ${kind} ${name}, different from the owner's and not written by the bridge: left as it is`, {
      fix: `make the two ${kind}s equal (the mirror then adopts it), or delete the ${replica}'s; bridgectl preflight lists them`,
    });
  }
}
