/**
 * CRDs before their custom resources (DESIGN.md section 5): the CRD shard's mirror starts first, and a
 * custom resource shard lists and writes the replica only once its CRD is Established there; until
 * then its mirror reports `waiting-for-crd` with the reason, and tries again with the mirror's capped
 * backoff, instead of a storm of refused writes.
 */
import { BridgeError } from '../lib/errors.js';
import type { KubeRestClient } from '../lib/kube/rest-client.js';
import type { ClusterSide, ShardKey } from '../lib/routing/types.js';

export const CRD_SHARD: ShardKey = 'customresourcedefinitions.apiextensions.k8s.io';
export const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

/** The shards in the order their mirrors start: CRDs first, the rest as configured. */
export function crdsFirst(shards: readonly ShardKey[]): ShardKey[] {
  return [...shards.filter((s) => s === CRD_SHARD), ...shards.filter((s) => s !== CRD_SHARD)];
}

/** The name of the CRD that defines `resource.group` on this cluster, or undefined for a built-in type. */
export async function crdNameOf(rest: Pick<KubeRestClient, 'request'>, group: string, resource: string): Promise<string | undefined> {
  if (!group) return undefined;
  const name = `${resource}.${group}`;
  return (await rest.request('GET', `${CRD_PATH}/${encodeURIComponent(name)}`)).status === 200 ? name : undefined;
}

/** A custom resource shard whose CRD the replica does not have, or has not Established yet. */
export class CrdNotEstablished extends BridgeError {
  readonly reason = 'crd-not-established';
  constructor(crd: string, side: ClusterSide, state: string) {
    super('BRIDGE_ERR_SYNC', `the CustomResourceDefinition ${crd} is ${state} on the ${side}: its custom resources wait for it`, {
      fix: `mirror ${CRD_SHARD} too (BRIDGE_SHARDS), or create the CRD on the ${side}`,
    });
  }
}

type Condition = { type?: string; status?: string; message?: string };

/** Throws CrdNotEstablished unless the replica's CRD `name` has condition Established=True. */
export async function ensureEstablished(rest: Pick<KubeRestClient, 'request'>, side: ClusterSide, name: string): Promise<void> {
  const got = await rest.request<{ status?: { conditions?: Condition[] } }>('GET', `${CRD_PATH}/${encodeURIComponent(name)}`);
  if (got.status === 404) throw new CrdNotEstablished(name, side, 'missing');
  const established = got.body?.status?.conditions?.find((c) => c.type === 'Established');
  if (got.status !== 200 || established?.status !== 'True') {
    throw new CrdNotEstablished(name, side, `not Established (${established?.message ?? `HTTP ${got.status}`})`);
  }
}
