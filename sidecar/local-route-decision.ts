/**
 * Local routing's decision (DESIGN.md section 3, docs/adr/0011), pure: a request goes straight to the
 * local source API server only when the aggregator would send it to the source. The aggregator's own
 * `route()` and resourceVersion codecs decide, so the two can never disagree on where a request belongs
 * or which RVs it presents: a shard that moved and came back goes local with its epoch's codec, which
 * the sidecar applies as the aggregator would (sidecar/offset-rewrite.ts). Everything else, and
 * everything while the table is missing or too old, goes to the aggregator.
 */
import { WRITE_VERBS } from '../lib/routing/request-info.js';
import type { RoutingState } from '../lib/routing/routing-state.js';
import { isCarried, namespacesSplit } from '../lib/routing/namespace-shards.js';
import { route } from '../lib/routing/routing-table.js';
import type { RequestInfo, RouteReason, ShardKey } from '../lib/routing/types.js';
import type { SelectReason, UpstreamChoice } from './upstream-selector.js';

/** The routing table as the sidecar holds it; `fresh` is false once it is older than the bound. */
export interface TableView {
  routing: RoutingState;
  fresh: boolean;
  /** Shards whose reads the aggregator shadows before they move: their reads must reach it. */
  shadowed?: ReadonlySet<ShardKey>;
}

const LOCAL_BY_ROUTE_REASON: Partial<Record<RouteReason, SelectReason>> = {
  'non-resource-source': 'non-resource',
  'discovery-source': 'discovery',
  located: 'located',
  'system-namespace': 'system',
  'system-resource': 'system',
};

/**
 * Whether a shard is served locally under this table: owned by the source and not changing owner.
 * `source-owned-shard` in epoch 0 (RVs are the source's), `source-owned-offset` once it moved and came
 * back (RVs carry the epoch's offset).
 */
export function shardLocality(routing: RoutingState, shard: ShardKey): SelectReason {
  // A carried type's cluster-wide reads, local while every namespace was the source's, are merged
  // once one moves: a local watch of them opened before must close (tableChanged) and come back merged.
  if (isCarried(routing.table, shard) && namespacesSplit(routing.table)) return 'namespaces-split';
  const state = routing.table.shards[shard];
  if (!state) return 'source-owned-shard';
  if (state.handoff) return 'shard-handoff';
  if (state.owner !== 'source') return 'destination-owned';
  return routing.codec(shard).isIdentity ? 'source-owned-shard' : 'source-owned-offset';
}

/** The epoch a shard is served locally in under this table; undefined when it is not local. */
export function localEpoch(routing: RoutingState, shard: ShardKey): number | undefined {
  const reason = shardLocality(routing, shard);
  if (reason === 'source-owned-shard') return 0;
  return reason === 'source-owned-offset' ? routing.codec(shard).current.epoch : undefined;
}

export function chooseUpstream(info: RequestInfo, view: TableView | undefined): UpstreamChoice {
  if (!view) return { target: 'upstream', reason: 'no-table' };
  if (!view.fresh) return { target: 'upstream', reason: 'table-stale' };
  const decision = route(info, view.routing.table);
  if (decision.target === 'hold') return { target: 'upstream', reason: 'shard-handoff', shard: decision.shard };
  if (decision.target === 'destination') return { target: 'upstream', reason: 'destination-owned', shard: decision.shard };
  if (decision.target === 'merged') return { target: 'upstream', reason: 'namespaces-split' };
  if (!decision.shard) return { target: 'local', reason: LOCAL_BY_ROUTE_REASON[decision.reason] ?? 'non-resource' };
  const reason = shardLocality(view.routing, decision.shard);
  if (reason !== 'source-owned-shard' && reason !== 'source-owned-offset') return { target: 'upstream', reason, shard: decision.shard };
  const write = WRITE_VERBS.has(info.verb);
  // Reads of any kind (list and watch share a path, so the decision stays a function of method and path).
  if (!write && view.shadowed?.has(decision.shard)) return { target: 'upstream', reason: 'shard-shadowed', shard: decision.shard };
  if (reason === 'source-owned-shard') return { target: 'local', reason, shard: decision.shard, fenceable: write };
  return { target: 'local', reason, shard: decision.shard, fenceable: write, codec: view.routing.codec(decision.shard) };
}
