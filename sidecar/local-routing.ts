/**
 * The sidecar's local-routing selector (DESIGN.md section 3, docs/adr/0011): decides each request by
 * the routing table the RoutingTableClient keeps current, and closes local watches on a shard as soon
 * as the shard stops being served locally in the epoch the watch was opened in (a hand-off began, the
 * table went stale, or the sidecar learnt of a whole move and back at once), so the client re-watches,
 * and an old-epoch resourceVersion gets 410 and a relist.
 */
import { parseRequestInfo } from '../lib/routing/request-info.js';
import type { ShardKey } from '../lib/routing/types.js';
import type { RequestHead, UpstreamChoice, UpstreamSelector } from './upstream-selector.js';
import { chooseUpstream, localEpoch } from './local-route-decision.js';
import type { RoutingTableClient } from './routing-table-client.js';

/** Decisions remembered per method and path; cleared whenever full (a pod calls a few dozen distinct paths). */
const MAX_REMEMBERED = 4096;

export class LocalRoutingSelector implements UpstreamSelector {
  /** Local watches per shard, each with the epoch it was opened in. */
  private readonly streams = new Map<ShardKey, Map<() => void, number>>();
  /**
   * The decision for a fresh table depends on the method and the path only: the query changes the verb
   * between list and watch (both reads) and nothing else `route()` looks at. Remembered per table, it
   * spares the hot path parsing every URL (the benchmark's CPU per request).
   */
  private remembered = new Map<string, UpstreamChoice>();
  private rememberedFor: object | undefined;
  private rememberedShadow: object | undefined;

  constructor(private readonly table: Pick<RoutingTableClient, 'view' | 'refresh'>) {}

  select(head: RequestHead): UpstreamChoice {
    const view = this.table.view();
    if (!view?.fresh) return chooseUpstream(parseRequestInfo(head.method, head.url), view);
    if (this.rememberedFor !== view.routing.table || this.rememberedShadow !== view.shadowed || this.remembered.size >= MAX_REMEMBERED) {
      this.remembered = new Map();
      this.rememberedFor = view.routing.table;
      this.rememberedShadow = view.shadowed;
    }
    const q = head.url.indexOf('?');
    const key = `${head.method} ${q < 0 ? head.url : head.url.slice(0, q)}`;
    let choice = this.remembered.get(key);
    if (!choice) {
      choice = chooseUpstream(parseRequestInfo(head.method, head.url), view);
      this.remembered.set(key, choice);
    }
    return choice;
  }

  refresh(): Promise<void> {
    return this.table.refresh();
  }

  trackLocalStream(shard: ShardKey, epoch: number, close: () => void): () => void {
    let set = this.streams.get(shard);
    if (!set) this.streams.set(shard, (set = new Map()));
    set.set(close, epoch);
    return () => {
      set.delete(close);
      if (set.size === 0 && this.streams.get(shard) === set) this.streams.delete(shard);
    };
  }

  /** Local watches open now, per shard (for tests and metrics). */
  get localStreams(): number {
    let count = 0;
    for (const set of this.streams.values()) count += set.size;
    return count;
  }

  /** Call after the table changed or its freshness did: ends the local streams not local in their epoch any more. */
  tableChanged(): void {
    const view = this.table.view();
    for (const [shard, set] of [...this.streams]) {
      const epoch = view?.fresh ? localEpoch(view.routing, shard) : undefined;
      for (const [close, opened] of [...set]) {
        if (opened === epoch) continue;
        set.delete(close);
        close();
      }
      if (set.size === 0 && this.streams.get(shard) === set) this.streams.delete(shard);
    }
  }
}
