/**
 * How sidecars fetch the routing table from the aggregator (DESIGN.md section 3, Local routing;
 * docs/adr/0011): `GET ROUTING_TABLE_PATH?generation=G&shadow=S&waitSeconds=W` over mTLS with a sidecar
 * client certificate. The aggregator answers at once when its table's generation is not G or its
 * shadow-read plan's version is not S, else when either changes or after W seconds (a long poll),
 * always with the whole table (a few hundred bytes per moved shard) and the shards whose reads it
 * shadows (those reads must reach it). Without the parameters it answers at once.
 */
import type { RoutingTable, ShardKey } from './types.js';

export const ROUTING_TABLE_PATH = '/bridge/v1/routing-table';

/** The longest a long poll is held open; longer requests are cut to this. */
export const MAX_ROUTING_TABLE_WAIT_SECONDS = 30;

/** The answer: the table, and the aggregator's shadow-read plan (DESIGN.md section 3, Shadow reads). */
export interface ServedRoutingTable extends RoutingTable {
  shadowReads?: { version: number; shards: ShardKey[] };
}

/** What the caller holds. */
export interface HeldVersions {
  generation: number;
  shadowVersion: number;
}

export interface RoutingTableQuery {
  /** What the caller holds; undefined: answer at once. */
  held: HeldVersions | undefined;
  waitSeconds: number;
}

export function routingTableRequestPath(held: HeldVersions | undefined, waitSeconds: number): string {
  if (held === undefined) return ROUTING_TABLE_PATH;
  return `${ROUTING_TABLE_PATH}?generation=${held.generation}&shadow=${held.shadowVersion}&waitSeconds=${waitSeconds}`;
}

function counterParam(params: URLSearchParams, name: string): number | undefined {
  const value = Number(params.get(name) ?? 'NaN');
  return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/** The query of a routing-table request, or undefined when the URL is not one. */
export function parseRoutingTableQuery(url: string): RoutingTableQuery | undefined {
  const q = url.indexOf('?');
  if ((q < 0 ? url : url.slice(0, q)) !== ROUTING_TABLE_PATH) return undefined;
  const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const generation = counterParam(params, 'generation');
  const wait = Number(params.get('waitSeconds') ?? '0');
  return {
    held: generation === undefined ? undefined : { generation, shadowVersion: counterParam(params, 'shadow') ?? 0 },
    waitSeconds: Number.isFinite(wait) && wait > 0 ? Math.min(wait, MAX_ROUTING_TABLE_WAIT_SECONDS) : 0,
  };
}
