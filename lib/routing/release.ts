/**
 * The routing table of a released bridge (`bridgectl release`, issue 21): every shard the source's,
 * computed as the hand-off computes it, so presented resourceVersions keep growing. A hold is dropped
 * (the old owner keeps the shard, as an aborted hand-off leaves it); a shard the destination owns gets a
 * new source epoch whose offset is above every RV the destination's epoch presented, given the
 * destination's current revision (lib/routing/routing-table.ts nextEpochOffset). Pure.
 */
import { abortHandoff, beginHandoff, completeHandoff, shardState } from './routing-table.js';
import type { RoutingTable, ShardKey } from './types.js';

export function releaseToSource(table: RoutingTable, destinationRevision: string, now: Date): { table: RoutingTable; returned: ShardKey[] } {
  let released = table;
  const returned: ShardKey[] = [];
  for (const shard of Object.keys(table.shards).sort()) {
    released = abortHandoff(released, shard);
    if (shardState(released, shard).owner !== 'destination') continue;
    released = completeHandoff(beginHandoff(released, shard, 'source', now), shard, destinationRevision, now);
    returned.push(shard);
  }
  return { table: released, returned };
}
