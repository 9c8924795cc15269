/**
 * The routing table of a released bridge (`bridgectl release`, issue 21): every shard the source's,
 * computed as the hand-off computes it, so presented resourceVersions keep growing. A hold is dropped
 * (the old owner keeps the shard, as an aborted hand-off leaves it); a shard the destination owns gets a
 * new source epoch whose offset is above every RV the destination's epoch presented, given the
 * destination's current revision (lib/routing/routing-table.ts nextEpochOffset). When a namespace shard
 * comes back, the namespaces' owners change, so merged reads start a new merged epoch at both clusters'
 * revisions (docs/adr/0025), as a hand-off does. Pure.
 */
import { BridgeError } from '../errors.js';
import { appendMergedEpoch } from './merged-rv.js';
import { abortHandoff, beginHandoff, completeHandoff, shardState } from './routing-table.js';
import { namespaceOfShard } from './shard-hash.js';
import type { RoutingTable, ShardKey } from './types.js';

export function releaseToSource(
  table: RoutingTable,
  destinationRevision: string,
  now: Date,
  sourceRevision?: string,
): { table: RoutingTable; returned: ShardKey[] } {
  let released = table;
  const returned: ShardKey[] = [];
  for (const shard of Object.keys(table.shards).sort()) {
    released = abortHandoff(released, shard);
    if (shardState(released, shard).owner !== 'destination') continue;
    released = completeHandoff(beginHandoff(released, shard, 'source', now), shard, destinationRevision, now);
    returned.push(shard);
  }
  if (returned.some((shard) => namespaceOfShard(shard) !== undefined)) {
    if (sourceRevision === undefined)
      throw new BridgeError('BRIDGE_ERR_ROUTING', `namespace shards come back (${returned.join(', ')}): a new merged epoch needs the source's revision too`);
    released = appendMergedEpoch(released, sourceRevision, destinationRevision, now);
  }
  return { table: released, returned };
}
