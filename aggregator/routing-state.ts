/** The routing table this replica acts on, with one resourceVersion codec per moved shard. */
import { ShardRVCodec } from '../lib/routing/resource-version.js';
import { emptyRoutingTable, shardState } from '../lib/routing/routing-table.js';
import type { RoutingTable, ShardKey } from '../lib/routing/types.js';

export class RoutingState {
  private current: RoutingTable = emptyRoutingTable();
  private codecs = new Map<ShardKey, ShardRVCodec>();
  /** The store's version of `current`, for compare-and-swap writes. */
  version = '';

  get table(): RoutingTable {
    return this.current;
  }

  /** Takes a newer table; an older generation (a slow poll racing a local write) is ignored. */
  update(table: RoutingTable, version: string): boolean {
    if (table.generation < this.current.generation) return false;
    this.current = table;
    this.version = version;
    this.codecs = new Map();
    return true;
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
}
