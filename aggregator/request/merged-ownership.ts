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

/**
 * The table as it was while merged epoch `epoch` was the current one: every namespace shard's epochs
 * begun by then (its owner then), no hand-off, the merged epochs up to it. A namespace shard's epoch
 * starts in the table write that appends its merged epoch (or before it), so comparing start times
 * orders them. What the later pages of a merged list are read with: the namespaces each side owned at
 * the list's first page, at the revisions it fixed.
 */
export function tableAtMergedEpoch(table: RoutingTable, epoch: number): RoutingTable {
  const merged = table.merged?.epochs.slice(0, epoch + 1) ?? [];
  const at = Date.parse(merged[merged.length - 1]?.startedAt ?? '');
  const shards = Object.fromEntries(
    Object.entries(table.shards).map(([key, state]) => {
      if (namespaceOfShard(key) === undefined) return [key, state];
      const epochs = state.epochs.filter((e, i) => i === 0 || Date.parse(e.startedAt) <= at);
      return [key, { shard: key, owner: epochs[epochs.length - 1]!.backend, epochs }];
    }),
  );
  return { ...table, shards, merged: { epochs: merged } };
}
