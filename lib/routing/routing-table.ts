/**
 * Routing by the table (DESIGN.md section 3): which backend serves a request, and the pure steps of
 * a shard's owner change (begin, complete with a new resourceVersion epoch, abort). Every function
 * returns a new table; the caller persists it (RoutingTableStore) before acting on it.
 */
import { BridgeError } from '../errors.js';
import { MERGED_RV_BASE, validateMergedEpochs } from './merged-rv.js';
import { WRITE_VERBS } from './request-info.js';
import { classify, isSourcePinned, isSystemNamespace } from './resource-classes.js';
import { checkShardKind, isCarried, namespacesSplit, namespaceTableProblem } from './namespace-shards.js';
import { namespaceShardKey, shardKey } from './shard-hash.js';
import type { ClusterSide, Epoch, RequestInfo, RouteDecision, RoutingTable, ShardKey, ShardState } from './types.js';

/** Presented resourceVersions must stay below 2^63: real clients parse them as int64. */
export const MAX_PRESENTED_RV = 2n ** 63n - 1n;
/**
 * Added to each new epoch's offset beyond the old backend's revision at the hand-off, so a read that
 * was in flight on the old backend while the hand-off ran (and saw a slightly newer revision) still
 * presents an RV below the new epoch's range. A million revisions of one cluster in a hand-off's
 * few hundred milliseconds is impossible; the cost is a visible jump, well inside 2^63.
 */
export const HANDOFF_RV_MARGIN = 1_000_000n;

export function emptyRoutingTable(): RoutingTable {
  return { generation: 0, shards: {} };
}

function epochZero(startedAt: string): Epoch {
  return { epoch: 0, backend: 'source', offset: '0', startedAt };
}

/** A shard's state; shards absent from the table are the source's, in epoch 0. */
export function shardState(table: RoutingTable, key: ShardKey): ShardState {
  return table.shards[key] ?? { shard: key, owner: 'source', epochs: [epochZero('1970-01-01T00:00:00Z')] };
}

const DISCOVERY_PATH = /^\/(api|apis|openapi)(\/|$)/;

/**
 * The shard a movable request is routed by: a namespaced request of a carried type by its namespace's
 * shard, anything else by its type's. Undefined for a cluster-wide request of a carried type (merged
 * or the source's, routeCarriedClusterWide).
 */
function shardOfRequest(info: RequestInfo, table: RoutingTable): ShardKey | undefined {
  const type = shardKey(info.apiGroup, info.resource);
  if (!isCarried(table, type)) return type;
  return info.namespace === '' ? undefined : namespaceShardKey(info.namespace);
}

/**
 * A cluster-wide request of a carried type: merged while namespaces are split (or ever were); else
 * the source, whose RVs are every namespace's (epoch 0). Named by its type, so its watches close with
 * any namespace's hand-off (shard-activity.ts). A write across namespaces (deletecollection without a
 * namespace) is routed 'merged' too: the aggregator refuses it there (merged reads only).
 */
function routeCarriedClusterWide(info: RequestInfo, table: RoutingTable): RouteDecision {
  const shard = shardKey(info.apiGroup, info.resource);
  if (namespacesSplit(table)) return { target: 'merged', reason: 'namespaces-split', shard };
  return { target: 'source', reason: 'shard-owner', shard };
}

export function route(info: RequestInfo, table: RoutingTable): RouteDecision {
  if (!info.isResourceRequest || info.resource === '') {
    return { target: 'source', reason: DISCOVERY_PATH.test(info.path) ? 'discovery-source' : 'non-resource-source' };
  }
  const cls = classify({ group: info.apiGroup, resource: info.resource, namespace: info.namespace, subresource: info.subresource }, table.classOverrides);
  if (cls === 'system')
    return { target: 'source', reason: info.namespace !== '' && isSystemNamespace(info.namespace) ? 'system-namespace' : 'system-resource' };
  if (cls === 'located') return { target: 'source', reason: 'located' };
  const shard = shardOfRequest(info, table);
  if (shard === undefined) return routeCarriedClusterWide(info, table);
  const state = table.shards[shard];
  if (!state) return { target: 'source', reason: 'shard-owner', shard };
  if (state.handoff && WRITE_VERBS.has(info.verb)) return { target: 'hold', reason: 'shard-handoff-hold', shard };
  return { target: state.owner, reason: 'shard-owner', shard };
}

function withShard(table: RoutingTable, state: ShardState): RoutingTable {
  return { ...table, generation: table.generation + 1, shards: { ...table.shards, [state.shard]: state } };
}

/** Step 1 of an owner change: writes to the shard are held from now on. */
export function beginHandoff(table: RoutingTable, key: ShardKey, to: ClusterSide, now: Date, by?: string): RoutingTable {
  if (isSourcePinned(key)) throw new BridgeError('BRIDGE_ERR_ROUTING', `shard ${key} is never moved: the source owns it in every state (docs/adr/0013)`);
  checkShardKind(table, key);
  const state = shardState(table, key);
  if (state.handoff) throw new BridgeError('BRIDGE_ERR_ROUTING', `shard ${key} is already changing owner to ${state.handoff.to}`);
  if (state.owner === to) throw new BridgeError('BRIDGE_ERR_ROUTING', `shard ${key} is already owned by the ${to}`);
  return withShard(table, { ...state, handoff: { to, startedAt: now.toISOString(), ...(by ? { by } : {}) } });
}

/**
 * Per-shard offsets stay below 2^61, so with any backend revision below 2^61 a per-shard RV stays below
 * MERGED_RV_BASE (2^62), where merged resourceVersions begin (docs/adr/0025): the two kinds are told
 * apart by value alone.
 */
export const MAX_EPOCH_OFFSET = MERGED_RV_BASE / 2n - 1n;

/**
 * The next epoch's offset: above every RV the current epoch can have presented, given the old
 * backend's revision once writes were held and the shard's watches closed.
 */
export function nextEpochOffset(current: Epoch, oldBackendRV: string): bigint {
  if (!/^\d+$/.test(oldBackendRV)) throw new BridgeError('BRIDGE_ERR_ROUTING', `the old owner's resourceVersion "${oldBackendRV}" is not a decimal integer`);
  const offset = BigInt(current.offset) + BigInt(oldBackendRV) + HANDOFF_RV_MARGIN;
  if (offset > MAX_EPOCH_OFFSET) {
    throw new BridgeError(
      'BRIDGE_ERR_ROUTING',
      `a new epoch would start at ${offset}: per-shard resourceVersions must stay below 2^62, where merged ones begin`,
    );
  }
  return offset;
}

/**
 * The old owner's revision when the shard last changed owner (what completeHandoff was given), read
 * back from the two epochs' offsets; undefined for a shard that never moved.
 */
export function lastHandoffRevision(state: ShardState): { from: ClusterSide; rv: bigint } | undefined {
  const [previous, current] = state.epochs.slice(-2);
  if (!previous || !current) return undefined;
  return { from: previous.backend, rv: BigInt(current.offset) - BigInt(previous.offset) - HANDOFF_RV_MARGIN };
}

/** Step 2: the other side is caught up; the new owner serves in a new epoch. */
export function completeHandoff(table: RoutingTable, key: ShardKey, oldBackendRV: string, now: Date): RoutingTable {
  const state = shardState(table, key);
  if (!state.handoff) throw new BridgeError('BRIDGE_ERR_ROUTING', `shard ${key} is not changing owner`);
  const current = state.epochs[state.epochs.length - 1]!;
  const epoch: Epoch = {
    epoch: current.epoch + 1,
    backend: state.handoff.to,
    offset: nextEpochOffset(current, oldBackendRV).toString(),
    startedAt: now.toISOString(),
  };
  return withShard(table, { shard: key, owner: epoch.backend, epochs: [...state.epochs, epoch] });
}

/** The hand-off failed (catch-up timed out): the old owner keeps serving, writes are released. */
export function abortHandoff(table: RoutingTable, key: ShardKey): RoutingTable {
  const state = shardState(table, key);
  if (!state.handoff) return table;
  const { handoff: _dropped, ...rest } = state;
  return withShard(table, rest);
}

function fail(field: string, problem: string): never {
  throw new BridgeError('BRIDGE_ERR_ROUTING', `routing table: ${field}: ${problem}`);
}

const SIDES: ReadonlySet<string> = new Set(['source', 'destination']);
const CLASSES: ReadonlySet<string> = new Set(['movable', 'located', 'system']);

function validateEpochs(field: string, epochs: unknown): void {
  if (!Array.isArray(epochs) || epochs.length === 0) fail(field, 'must be a non-empty list');
  let previous = -1n;
  epochs.forEach((e: Partial<Epoch>, i) => {
    const at = `${field}[${i}]`;
    if (e.epoch !== i) fail(`${at}.epoch`, `must be ${i}`);
    if (!SIDES.has(String(e.backend))) fail(`${at}.backend`, 'must be source or destination');
    if (typeof e.offset !== 'string' || !/^\d+$/.test(e.offset)) fail(`${at}.offset`, 'must be a decimal string');
    const offset = BigInt(e.offset);
    if (offset > MAX_EPOCH_OFFSET) fail(`${at}.offset`, 'must be below 2^61 (per-shard resourceVersions stay below merged ones, 2^62)');
    if (offset <= previous) fail(`${at}.offset`, "must be greater than the previous epoch's");
    if (i === 0 && (e.backend !== 'source' || offset !== 0n)) fail(at, 'epoch 0 must be the source with offset 0');
    previous = offset;
  });
}

/** Checks a table read from storage (or written by hand) and names the first bad field. */
export function validateRoutingTable(value: unknown): RoutingTable {
  if (typeof value !== 'object' || value === null) fail('(root)', 'must be an object');
  const table = value as Partial<RoutingTable>;
  if (!Number.isSafeInteger(table.generation) || table.generation! < 0) fail('generation', 'must be a non-negative integer');
  if (typeof table.shards !== 'object' || table.shards === null) fail('shards', 'must be an object');
  for (const [key, state] of Object.entries(table.shards)) {
    const at = `shards["${key}"]`;
    if (state.shard !== key) fail(`${at}.shard`, `must be "${key}"`);
    if (!SIDES.has(state.owner)) fail(`${at}.owner`, 'must be source or destination');
    validateEpochs(`${at}.epochs`, state.epochs);
    if (state.epochs[state.epochs.length - 1]!.backend !== state.owner) fail(`${at}.owner`, 'must be the backend of the last epoch');
    if (state.handoff && (!SIDES.has(state.handoff.to) || state.handoff.to === state.owner)) fail(`${at}.handoff.to`, 'must be the other side');
  }
  for (const [key, cls] of Object.entries(table.classOverrides ?? {})) {
    if (!CLASSES.has(cls)) fail(`classOverrides["${key}"]`, 'must be movable, located or system');
  }
  if (table.merged !== undefined) validateMergedEpochs('merged', table.merged);
  const problem = namespaceTableProblem(table as RoutingTable);
  if (problem) fail(...problem);
  return table as RoutingTable;
}
