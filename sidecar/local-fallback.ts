/**
 * Whether the local source API server may answer a request the aggregator should have answered but
 * cannot be reached for (fail mode `local`; docs/adr/0017). Pure, like local-route-decision.ts, and
 * decided by the same `route()`.
 *
 * The source serves exactly what it owns in epoch 0: non-resource paths, discovery, located and system
 * resources, and shards the source owns that never moved. Anything else gets 503 with Retry-After
 * (a transient fault, which clients retry), never the source's answer:
 * - a write to a moved shard would meet the source's fence: a 403 tells every client not to retry;
 * - a read of a moved shard would come from the source's mirror copy: as stale as the synchronizer's
 *   lag (unbounded while it is down too), and with the source's resourceVersions where the client holds
 *   the shard's presented ones (backend RV + the epoch's offset), so objects would go back in time and
 *   a watch from a presented RV would start at the wrong point or be refused;
 * - a shard that moved and came back carries an offset the source's answers lack (the same);
 * - a cluster-wide read of a carried type while namespaces are split (docs/adr/0026) is merged from both
 *   clusters under merged resourceVersions: the source alone lacks the destination's namespaces.
 * The last table the sidecar holds decides, however old: only the aggregator moves shards, so while it
 * is unreachable the table can be behind by at most the hand-off it finished just before (whose writes
 * the fence still refuses; forward-request.ts turns that refusal into 503 too). Before any table
 * arrived, no shard is known to be the source's, so every shard request gets 503.
 */
import type { RequestInfo } from '../lib/routing/types.js';
import { emptyRoutingTable, route } from '../lib/routing/routing-table.js';
import { shardLocality, type TableView } from './local-route-decision.js';

export type FallbackRefusal = 'no-table' | 'destination-owned' | 'shard-handoff' | 'shard-rv-offset' | 'namespaces-split';

export type FallbackVerdict = { allowed: true } | { allowed: false; reason: FallbackRefusal };

const ALLOWED: FallbackVerdict = Object.freeze({ allowed: true });
const EMPTY = emptyRoutingTable();

export function localFallback(info: RequestInfo, view: Pick<TableView, 'routing'> | undefined): FallbackVerdict {
  const decision = route(info, view?.routing.table ?? EMPTY);
  if (decision.target === 'merged') return { allowed: false, reason: 'namespaces-split' };
  if (!decision.shard) return ALLOWED;
  if (!view) return { allowed: false, reason: 'no-table' };
  const locality = shardLocality(view.routing, decision.shard);
  if (locality === 'source-owned-shard') return ALLOWED;
  // Served locally with its offset applied (offset-rewrite.ts) when chosen so; a fallback is sent unrewritten.
  if (locality === 'source-owned-offset') return { allowed: false, reason: 'shard-rv-offset' };
  return { allowed: false, reason: locality as FallbackRefusal };
}
