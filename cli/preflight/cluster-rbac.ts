/**
 * Check 5 (a warning, never a failure): cluster grants that make the destination's RBAC differ from the
 * source's for bridged callers (docs/adr/0013). The synchronizer copies the source's ClusterRoles and
 * ClusterRoleBindings to the destination, but it neither deletes nor overwrites what the destination
 * had of its own, so:
 * - a ClusterRoleBinding only the destination has grants bridged identities more there than the source does;
 * - a same-named ClusterRole or ClusterRoleBinding that differs is left as the destination's, and
 *   reported by the synchronizer until someone makes the two equal or deletes the destination's.
 * Objects each cluster has for itself (bootstrap, `system:`, the bridge's own) are not compared.
 */
import { clusterRbacSkip } from '../../lib/mirror/cluster-rbac.js';
import { isMirrorCopy, sameMirroredContent } from '../../lib/mirror/copy.js';
import { type KubeObject } from '../../lib/kube/types.js';
import type { KubeApi } from './clusters.js';
import { listCapped, type CheckResult } from './report.js';

const RBAC = '/apis/rbac.authorization.k8s.io/v1';

/** The pure comparison: destination-only bindings, and same-named objects the destination holds differently (by `kind name`). */
export function clusterRbacDifferences(
  kind: 'ClusterRole' | 'ClusterRoleBinding',
  source: readonly KubeObject[],
  destination: readonly KubeObject[],
): { destinationOnly: string[]; differing: string[] } {
  const bySource = new Map(source.map((o) => [o.metadata.name, o]));
  const destinationOnly: string[] = [];
  const differing: string[] = [];
  for (const own of destination) {
    if (clusterRbacSkip(own) || isMirrorCopy(own)) continue;
    const original = bySource.get(own.metadata.name);
    if (!original) {
      if (kind === 'ClusterRoleBinding') destinationOnly.push(`${kind} ${own.metadata.name}`);
    } else if (!sameMirroredContent(original, own)) differing.push(`${kind} ${own.metadata.name}`);
  }
  return { destinationOnly, differing };
}

async function list(client: KubeApi, resource: string): Promise<KubeObject[]> {
  return (await client.expect<{ items: KubeObject[] }>('GET', `${RBAC}/${resource}`, [200])).body.items;
}

export async function checkClusterRbac(source: KubeApi, destination: KubeApi): Promise<CheckResult> {
  const warnings: string[] = [];
  const found = { destinationOnly: [] as string[], differing: [] as string[] };
  for (const [kind, resource] of [
    ['ClusterRoleBinding', 'clusterrolebindings'],
    ['ClusterRole', 'clusterroles'],
  ] as const) {
    const { destinationOnly, differing } = clusterRbacDifferences(kind, await list(source, resource), await list(destination, resource));
    found.destinationOnly.push(...destinationOnly);
    found.differing.push(...differing);
  }
  if (found.destinationOnly.length > 0)
    warnings.push(`only the destination has ${found.destinationOnly.length} (bridged callers get more there): ${listCapped(found.destinationOnly)}`);
  if (found.differing.length > 0)
    warnings.push(`the destination's own ${found.differing.length} differ from the source's and are not overwritten: ${listCapped(found.differing)}`);
  if (warnings.length === 0) return { check: 'cluster-rbac', ok: true, detail: "the destination's cluster grants add nothing to the source's" };
  return {
    check: 'cluster-rbac',
    ok: true,
    warning: true,
    detail: warnings.join('; '),
    fix: "delete what the destination should not grant, or make it equal to the source's (docs/adr/0013)",
    failures: [...found.destinationOnly, ...found.differing],
  };
}
