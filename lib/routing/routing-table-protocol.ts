/**
 * How sidecars fetch the routing table from the aggregator (DESIGN.md section 3, Local routing;
 * docs/adr/0010): `GET ROUTING_TABLE_PATH?generation=G&waitSeconds=W` over mTLS with a sidecar client
 * certificate. The aggregator answers at once when its table's generation is not G, else when it
 * changes or after W seconds (a long poll), always with the whole table (a few hundred bytes per
 * moved shard). Without the parameters it answers at once.
 */

export const ROUTING_TABLE_PATH = '/bridge/v1/routing-table';

/** The longest a long poll is held open; longer requests are cut to this. */
export const MAX_ROUTING_TABLE_WAIT_SECONDS = 30;

export interface RoutingTableQuery {
  /** The generation the caller holds; undefined: answer at once. */
  generation: number | undefined;
  waitSeconds: number;
}

export function routingTableRequestPath(generation: number | undefined, waitSeconds: number): string {
  if (generation === undefined) return ROUTING_TABLE_PATH;
  return `${ROUTING_TABLE_PATH}?generation=${generation}&waitSeconds=${waitSeconds}`;
}

/** The query of a routing-table request, or undefined when the URL is not one. */
export function parseRoutingTableQuery(url: string): RoutingTableQuery | undefined {
  const q = url.indexOf('?');
  if ((q < 0 ? url : url.slice(0, q)) !== ROUTING_TABLE_PATH) return undefined;
  const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const generation = Number(params.get('generation') ?? 'NaN');
  const wait = Number(params.get('waitSeconds') ?? '0');
  return {
    generation: Number.isSafeInteger(generation) && generation >= 0 ? generation : undefined,
    waitSeconds: Number.isFinite(wait) && wait > 0 ? Math.min(wait, MAX_ROUTING_TABLE_WAIT_SECONDS) : 0,
  };
}
