/**
 * Who contributes what to a merged read (ns-design section 3): an object of a carried type is kept
 * from the side that owns its namespace (its namespace shard's owner; other and system namespaces:
 * the source), so the destination adds only the namespaces it owns, never its system objects nor its
 * copies, and the source never adds the copies it keeps of moved namespaces.
 */
import { ShardRVCodec } from '../../lib/routing/resource-version.js';
import { isSystemNamespace } from '../../lib/routing/resource-classes.js';
import { shardState } from '../../lib/routing/routing-table.js';
import { namespaceOfShard, namespaceShardKey } from '../../lib/routing/shard-hash.js';
import type { ClusterSide, RoutingTable } from '../../lib/routing/types.js';

/** The side that serves a namespace's carried types; during a hand-off, still the old owner (its writes are held). */
export function namespaceOwner(table: RoutingTable, namespace: string): ClusterSide {
  if (isSystemNamespace(namespace)) return 'source';
  return table.shards[namespaceShardKey(namespace)]?.owner ?? 'source';
}

/** True when the object in `namespace`, read from `side`, belongs in the merged answer. */
export function keptFrom(table: RoutingTable, side: ClusterSide, namespace: string | undefined): boolean {
  return namespaceOwner(table, namespace ?? '') === side;
}

/**
 * What a merged answer depends on: the namespace shards' owners and hand-offs, and the merged epochs.
 * A change between the two backends' reads means the union may have a gap or a duplicate: read again.
 */
export function ownershipFingerprint(table: RoutingTable): string {
  const shards = Object.values(table.shards)
    .filter((s) => namespaceOfShard(s.shard) !== undefined)
    .map((s) => `${s.shard}=${s.owner}:${s.epochs.length}${s.handoff ? `>${s.handoff.to}` : ''}`)
    .sort();
  return `${shards.join(',')}|${table.merged?.epochs.length ?? 0}`;
}

/** Each namespace's per-shard codec: an item presents the RV a namespaced read of it presents. */
export function namespaceCodecs(table: RoutingTable): (namespace: string) => ShardRVCodec {
  const codecs = new Map<string, ShardRVCodec>();
  return (namespace) => {
    let codec = codecs.get(namespace);
    if (!codec) {
      codec = new ShardRVCodec(shardState(table, namespaceShardKey(namespace)));
      codecs.set(namespace, codec);
    }
    return codec;
  };
}
