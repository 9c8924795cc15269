/**
 * The routing table a process acts on (an aggregator replica, or a sidecar routing locally), with one
 * resourceVersion codec per shard, built lazily once per table. Only newer generations are taken, so
 * what a process routes by never goes back in time.
 */
import { ChangeWaiters } from '../change-waiters.js';
import { MergedRVCodec } from './merged-rv.js';
import { ShardRVCodec } from './resource-version.js';
import { emptyRoutingTable, shardState } from './routing-table.js';
import type { RoutingTable, ShardKey } from './types.js';

export class RoutingState {
  private current: RoutingTable = emptyRoutingTable();
  private codecs = new Map<ShardKey, ShardRVCodec>();
  private merged: MergedRVCodec | undefined;
  private readonly waiters = new ChangeWaiters();
  /** The store's version of `current`, for compare-and-swap writes. */
  version = '';

  get table(): RoutingTable {
    return this.current;
  }

  /** Takes a newer table; an older generation (a slow poll racing a local write) is ignored. */
  update(table: RoutingTable, version: string): boolean {
    if (table.generation < this.current.generation) return false;
    const changed = table.generation !== this.current.generation;
    this.current = table;
    this.version = version;
    this.codecs = new Map();
    this.merged = undefined;
    if (changed) this.waiters.wake();
    return true;
  }

  /**
   * Resolves once the generation differs from `generation` or after `timeoutMs`, whichever is first
   * (the routing table's long poll); `signal` ends the wait early (the poller went away).
   */
  waitForChange(generation: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.current.generation !== generation) return Promise.resolve();
    return this.waiters.wait(timeoutMs, signal);
  }

  /** The shard's codec; every shard has one (identity in epoch 0). */
  codec(shard: ShardKey): ShardRVCodec {
    let codec = this.codecs.get(shard);
    if (!codec) {
      codec = new ShardRVCodec(shardState(this.current, shard));
      this.codecs.set(shard, codec);
    }
    return codec;
  }

  /** The merged resourceVersion codec of this table (docs/adr/0025), built once per table. */
  mergedCodec(): MergedRVCodec {
    this.merged ??= MergedRVCodec.forTable(this.current);
    return this.merged;
  }
}
