/**
 * One writer of desired owners (issue 21): while a BridgeRollout that is not finalized covers a shard,
 * the rollout controller writes that shard's desired owner every tick, so a `bridgectl aggregator move`
 * of it would be undone seconds later, silently. Such a move is refused, naming the rollout and the way
 * to take over. Pure: the caller lists the rollouts.
 */
import { BridgeError } from '../../lib/errors.js';
import { SYSTEM_NAMESPACE } from '../../lib/names.js';
import { namespaceOfShard } from '../../lib/routing/shard-hash.js';
import type { ShardKey } from '../../lib/routing/types.js';
import type { BridgeRollout } from './rollout-types.js';

/**
 * Whether a rollout's plan covers `shard`: a type shard when listed (without spec.shards, the default
 * shards); a namespace shard when a stage names its namespace, or selects by a label selector or all
 * namespaces (which may take it in at any tick: counted as covering it, not resolved here).
 */
function covers(rollout: BridgeRollout, shard: ShardKey, defaultShards: readonly ShardKey[]): boolean {
  const namespace = namespaceOfShard(shard);
  if (namespace === undefined) return (rollout.spec.shards?.length ? rollout.spec.shards : defaultShards).includes(shard);
  return rollout.spec.stages.some((s) => s.namespaces !== undefined && (s.namespaces.names === undefined || s.namespaces.names.includes(namespace)));
}

/** The rollout that governs `shard` (the oldest not finalized that covers it), if any. */
export function governingRollout(rollouts: readonly BridgeRollout[], shard: ShardKey, defaultShards: readonly ShardKey[]): BridgeRollout | undefined {
  return rollouts
    .filter((r) => !r.status?.finalizedAt)
    .filter((r) => covers(r, shard, defaultShards))
    .sort(
      (a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || a.metadata.name.localeCompare(b.metadata.name),
    )[0];
}

/** BRIDGE_ERR_ROLLOUT naming the rollout that governs the shard, its phase, and how to take over. */
export function governedMoveRefusal(rollout: BridgeRollout, shard: ShardKey): BridgeError {
  const name = rollout.metadata.name;
  const phase = rollout.status?.phase ?? 'Pending';
  return new BridgeError(
    'BRIDGE_ERR_ROLLOUT',
    `BridgeRollout "${name}" (phase ${phase}) governs ${shard}: its controller sets ${shard}'s owner and would undo this move within a second`,
    {
      fix:
        `drive it through the rollout (bridgectl advance|pause|rollback --name ${name}), or take over: ` +
        `kubectl -n ${SYSTEM_NAMESPACE} delete bridgerollout ${name} (shards stay where they are), then move again`,
    },
  );
}
