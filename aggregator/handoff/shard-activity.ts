/**
 * What is running per shard, for hand-offs: writes in flight (a hand-off reads the old owner's
 * revision only after they finish) and open watches (closed at every owner change, so clients resume
 * with an RV the new epoch answers with 410 and relist).
 */
import { namespaceOfShard } from '../../lib/routing/shard-hash.js';
import type { RoutingTable } from '../../lib/routing/types.js';

/**
 * The keys whose watches and writes a shard's owner change concerns: the shard's own and, for a
 * namespace shard, every carried type's, under which cluster-wide requests of it (merged or the
 * source's) are registered: they span the namespace, whose owner, epoch and merged epoch all change
 * (docs/adr/0026).
 */
export function watchKeysOf(shard: string, table?: Pick<RoutingTable, 'namespaceTypes'>): string[] {
  return namespaceOfShard(shard) === undefined ? [shard] : [shard, ...(table?.namespaceTypes ?? [])];
}

export class ShardActivity {
  private readonly writes = new Map<string, number>();
  private readonly watches = new Map<string, Set<() => void>>();
  private readonly drained = new Map<string, (() => void)[]>();

  beginWrite(shard: string): () => void {
    this.writes.set(shard, (this.writes.get(shard) ?? 0) + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const left = (this.writes.get(shard) ?? 1) - 1;
      this.writes.set(shard, left);
      if (left === 0) for (const resolve of this.drained.get(shard)?.splice(0) ?? []) resolve();
    };
  }

  writesInFlight(shard: string): number {
    return this.writes.get(shard) ?? 0;
  }

  /** Resolves when no write of the shard is in flight (or at the deadline: false). */
  async writesDrained(shard: string, timeoutMs: number): Promise<boolean> {
    if (this.writesInFlight(shard) === 0) return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      const waiters = this.drained.get(shard) ?? [];
      waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
      this.drained.set(shard, waiters);
    });
  }

  /** Registers a watch's closer; returns the unregister function. */
  addWatch(shard: string, close: () => void): () => void {
    const set = this.watches.get(shard) ?? new Set();
    set.add(close);
    this.watches.set(shard, set);
    return () => set.delete(close);
  }

  /** Ends every open watch of the shard (with `table`, of a namespace shard's carried types too: watchKeysOf); returns how many. */
  closeWatches(shard: string, table?: Pick<RoutingTable, 'namespaceTypes'>): number {
    const closers = watchKeysOf(shard, table).flatMap((key) => {
      const set = this.watches.get(key);
      const taken = set ? [...set] : [];
      set?.clear();
      return taken;
    });
    for (const close of closers) close();
    return closers.length;
  }
}
