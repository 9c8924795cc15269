/**
 * Whether a shard name can change owner at all, checked before anything is held (issue 21: `--shard
 * leases`, meant as `leases.coordination.k8s.io`, was added to the routing table and the fence, held its
 * writes 30 s, aborted, and was retried for ever). A shard must be a movable type (the class table), be
 * served by the API server asked (discovery), and be mirrored by the synchronizer (asked by the caller).
 * A name the API server does not serve is answered with the shards it does serve under that resource name.
 */
import { BridgeError } from '../errors.js';
import type { KubeRestClient } from '../kube/rest-client.js';
import { discoveryAt } from '../kube/kind-discovery.js';
import { classOf } from './resource-classes.js';
import { parseShardKey, shardKey } from './shard-hash.js';
import type { ShardKey } from './types.js';

interface ResourceList {
  resources?: { name: string }[];
}
interface GroupList {
  groups?: { name: string; preferredVersion?: { groupVersion?: string } }[];
}

/** A shard that cannot change owner, whatever is retried (BRIDGE_ERR_ROUTING). */
export class ShardRefused extends BridgeError {
  constructor(message: string, fix: string) {
    super('BRIDGE_ERR_ROUTING', message, { fix });
  }
}

const refused = (message: string, fix: string) => new ShardRefused(message, fix);

/** The resource names (no subresources) of one group version; empty when the API server does not serve it. */
async function resourcesOf(client: Pick<KubeRestClient, 'request'>, groupVersionPath: string): Promise<string[]> {
  const list = await discoveryAt<ResourceList>(client, groupVersionPath);
  return (list?.resources ?? []).map((r) => r.name).filter((name) => !name.includes('/'));
}

/** The preferred version path of `group` (`/api/v1` for the core group), or undefined when not served. */
async function groupPath(client: Pick<KubeRestClient, 'request'>, group: string): Promise<string | undefined> {
  if (!group) return '/api/v1';
  const gv = (await discoveryAt<{ preferredVersion?: { groupVersion?: string } }>(client, `/apis/${encodeURIComponent(group)}`))?.preferredVersion
    ?.groupVersion;
  return gv ? `/apis/${gv}` : undefined;
}

/** The shards named `resource` in any group the API server serves (for "did you mean"). */
async function sameNamedShards(client: Pick<KubeRestClient, 'request'>, resource: string): Promise<ShardKey[]> {
  const found: ShardKey[] = [];
  if ((await resourcesOf(client, '/api/v1')).includes(resource)) found.push(resource);
  for (const group of (await discoveryAt<GroupList>(client, '/apis'))?.groups ?? []) {
    const gv = group.preferredVersion?.groupVersion;
    if (gv && (await resourcesOf(client, `/apis/${gv}`)).includes(resource)) found.push(shardKey(group.name, resource));
  }
  return found;
}

/**
 * Throws BRIDGE_ERR_ROUTING unless `shard` is a movable type that `client`'s API server serves. `side`
 * names that server in the message.
 */
export async function checkShardServed(client: Pick<KubeRestClient, 'request'>, shard: ShardKey, side: string): Promise<void> {
  const { group, resource } = parseShardKey(shard);
  const cls = classOf({ group, resource });
  if (cls !== 'movable')
    throw refused(`${shard} is a ${cls} resource type: it never changes owner (DESIGN.md section 3)`, 'move a movable shard (bridgectl aggregator status)');
  const path = await groupPath(client, group);
  if (path && (await resourcesOf(client, path)).includes(resource)) return;
  const candidates = (await sameNamedShards(client, resource)).filter((s) => s !== shard && classOf(parseShardKey(s)) === 'movable');
  const hint = candidates.length ? `; did you mean ${candidates.join(' or ')}?` : '';
  throw refused(
    `the ${side} API server serves no resource type ${shard}${hint}`,
    candidates.length ? `pass --shard ${candidates[0]}` : 'name a shard as <resource>[.<group>], e.g. leases.coordination.k8s.io',
  );
}

/** Throws BRIDGE_ERR_ROUTING unless `shard` is among the synchronizer's shards (its /status, or its catch-up API). */
export function checkShardMirrored(shard: ShardKey, mirrored: readonly ShardKey[]): void {
  if (!mirrored.includes(shard)) throw notMirrored(shard, `it mirrors ${mirrored.join(', ') || 'nothing'}`);
}

export function notMirrored(shard: ShardKey, detail: string): BridgeError {
  return refused(
    `the synchronizer does not mirror ${shard} (${detail}): its writes could not be caught up`,
    'add it to the synchronizer’s BRIDGE_SHARDS (a custom resource: its CRD shard) first',
  );
}
