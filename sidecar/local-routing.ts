/**
 * The sidecar's local-routing selector (DESIGN.md section 3, docs/adr/0010): decides each request by
 * the routing table the RoutingTableClient keeps current, and closes local watches on a shard as soon
 * as the shard stops being served locally (a hand-off began, the table went stale), so the client
 * re-watches through the aggregator, which answers an old-epoch resourceVersion with 410 and a relist.
 */
import { parseRequestInfo } from '../lib/routing/request-info.js';
import type { ShardKey } from '../lib/routing/types.js';
import type { RequestHead, UpstreamChoice, UpstreamSelector } from '../lib/upstream-selector.js';
import { chooseUpstream, shardLocality } from './local-route-decision.js';
import type { RoutingTableClient } from './routing-table-client.js';

export class LocalRoutingSelector implements UpstreamSelector {
  private readonly streams = new Map<ShardKey, Set<() => void>>();

  constructor(private readonly table: Pick<RoutingTableClient, 'view' | 'refresh'>) {}

  select(head: RequestHead): UpstreamChoice {
    return chooseUpstream(parseRequestInfo(head.method, head.url), this.table.view());
  }

  refresh(): Promise<void> {
    return this.table.refresh();
  }

  trackLocalStream(shard: ShardKey, close: () => void): () => void {
    let set = this.streams.get(shard);
    if (!set) this.streams.set(shard, (set = new Set()));
    set.add(close);
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

  /** Call after the table changed or its freshness did: ends the local streams of shards no longer local. */
  tableChanged(): void {
    const view = this.table.view();
    for (const [shard, set] of [...this.streams]) {
      if (view?.fresh && shardLocality(view.routing, shard) === 'source-owned-shard') continue;
      this.streams.delete(shard);
      for (const close of [...set]) close();
    }
  }
}
