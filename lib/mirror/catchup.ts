/**
 * The hand-off contract between the aggregator and the synchronizer (DESIGN.md section 3, "Changing a
 * shard's owner"): before a shard's owner changes, the aggregator holds writes, asks the synchronizer
 * whether the other side has every change of the old owner up to a revision, and waits for it.
 *
 * Transport: HTTPS on the synchronizer's API port (default SYNCHRONIZER_PORT in lib/names.ts), mTLS
 * with client certificates issued by the bridge CA.
 *   GET /v1/catchup?shard=<ShardKey>&from=<ClusterSide>&rv=<backend RV of `from`>&timeoutSeconds=<n>
 *   -> 200 CatchUpStatus (caughtUp false when the deadline passed first), 400 on bad parameters,
 *      503 while the synchronizer is not the leader or has not finished its initial sync.
 * With timeoutSeconds=0 (or absent) the answer is immediate.
 */
import type { ClusterSide, ShardKey } from '../routing/types.js';

export interface CatchUpQuery {
  shard: ShardKey;
  /** The side whose changes must be on the other side (the old owner). */
  from: ClusterSide;
  /** A backend resourceVersion of `from` (not a presented one). */
  rv: string;
}

export interface CatchUpStatus {
  shard: ShardKey;
  from: ClusterSide;
  /** True when every change of `from` at or below `rv` for this shard is applied on the other side. */
  caughtUp: boolean;
  /** The highest revision of `from` up to which this shard is known complete on the other side. */
  syncedRV: string;
  /**
   * Objects of `from` the other side refused (a quota, a policy, a terminating namespace), retried by
   * the synchronizer. A move to the destination is not caught up while any remain; a move back to the
   * source is (a rollback must not wait on the source), and those objects stay in the destination,
   * unmirrored, until they can be written. Absent from older synchronizers: none.
   */
  failing?: { count: number; example: string; lastError?: string };
}

export interface CatchUp {
  status(query: CatchUpQuery): Promise<CatchUpStatus>;
  /** Resolves when caught up; rejects with BRIDGE_ERR_HANDOFF_TIMEOUT when the deadline passes first. */
  waitFor(query: CatchUpQuery, timeoutMs: number): Promise<CatchUpStatus>;
}
