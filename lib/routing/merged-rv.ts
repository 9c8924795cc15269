/**
 * The merged resourceVersion (docs/adr/0025): one RV sequence for a cluster-wide list or watch of a
 * carried type whose namespaces are split between the two clusters. A reader's position is the pair
 * (s, d) of the source's and the destination's revisions it has seen; in merged epoch e it is presented as
 *
 *   MERGED_RV_BASE + offset_e + (s - source_e) * 2^MERGED_DESTINATION_BITS + (d - destination_e)
 *
 * which is lexicographic in (s, d): a stream whose two positions only grow presents RVs that only grow.
 * Merged RVs lie in [2^62, 2^63); per-shard RVs stay below 2^62 (routing-table.ts nextEpochOffset), so
 * the two kinds are told apart by value alone. Epochs live in the routing table (RoutingTable.merged),
 * never in one process's memory, so every replica and every restart presents and decodes alike. Pure.
 */
import { BridgeError } from '../errors.js';
import { MAX_RV } from './resource-version.js';
import type { ClusterSide, MergedEpoch, RoutingTable } from './types.js';

/** The floor of the merged range: every merged RV is >= 2^62, every per-shard RV below. */
export const MERGED_RV_BASE = 2n ** 62n;
/** The destination's delta takes the low 24 bits; the source's delta the bits above. */
export const MERGED_DESTINATION_BITS = 24;
/** The top of the destination's 2^24 never presented: a reader that would pass it rolls to a new epoch first. */
export const MERGED_DESTINATION_HEADROOM = 2n ** 16n;
/**
 * Source revisions left between the end of epoch e (the source's revision at the switch) and the start
 * of epoch e+1's range, so an RV a replica still on epoch e presents during the switch stays below it.
 */
export const MERGED_SOURCE_MARGIN = 2n ** 16n;

const DESTINATION_SPAN = 1n << BigInt(MERGED_DESTINATION_BITS);
/** The largest destination delta an epoch presents, plus one: 2^24 - 2^16 = 16,711,680. */
export const MERGED_DESTINATION_LIMIT = DESTINATION_SPAN - MERGED_DESTINATION_HEADROOM;
/**
 * The largest offset an epoch may have: its range must hold at least MERGED_SOURCE_MARGIN source
 * revisions below 2^63 (the margin the next epoch needs anyway). 2^62 / 2^24 = 2^38 source revisions in
 * all; each epoch uses its own source progress plus the margin, so ~4M epochs when nothing else moves.
 */
export const MERGED_MAX_OFFSET = MAX_RV + 1n - MERGED_RV_BASE - MERGED_SOURCE_MARGIN * DESTINATION_SPAN;

export type DecodedMergedRV =
  /** `""` or `"0"`: any / most recent, as kube-apiserver reads them. */
  | { kind: 'unset' }
  /** Below 2^62: a per-shard RV (a namespaced read's); a merged list or watch answers 410 Expired. */
  | { kind: 'not-merged'; value: bigint }
  /** From a merged epoch before the current one: 410 for list and watch, 409 Conflict for a precondition. */
  | { kind: 'older-epoch'; epoch: number }
  /** Beyond what this table presents (a newer epoch another replica wrote): reload the table once, then 410. */
  | { kind: 'ahead' }
  /** Not a decimal below 2^63, or a value no epoch presents (a destination delta in the headroom). */
  | { kind: 'invalid' }
  | { kind: 'current'; epoch: number; source: bigint; destination: bigint };

/** The newest revisions of each backend the caller knows of; positions beyond them were not presented by this table. */
export interface KnownRevisions {
  source: bigint;
  destination: bigint;
}

function routingError(message: string, fix?: string): BridgeError {
  return new BridgeError('BRIDGE_ERR_ROUTING', message, fix === undefined ? {} : { fix });
}

/** The codec of one routing table's merged epochs, built once per table snapshot. */
export class MergedRVCodec {
  private readonly epochs: readonly MergedEpoch[];
  private readonly offsets: bigint[];

  constructor(epochs: readonly MergedEpoch[]) {
    this.epochs = epochs;
    this.offsets = epochs.map((e) => BigInt(e.offset));
  }

  static forTable(table: RoutingTable): MergedRVCodec {
    return new MergedRVCodec(table.merged?.epochs ?? []);
  }

  get current(): MergedEpoch | undefined {
    return this.epochs[this.epochs.length - 1];
  }

  /** The presented RV of the position (source, destination) in the current epoch. */
  present(source: bigint, destination: bigint): string {
    const epoch = this.current;
    if (!epoch) throw routingError('no merged resourceVersion epoch exists yet: a merged read needs one (appendMergedEpoch)');
    const ds = source - BigInt(epoch.source);
    const dd = destination - BigInt(epoch.destination);
    if (ds < 0n || dd < 0n) {
      throw routingError(
        `the position (source ${source}, destination ${destination}) is before merged epoch ${epoch.epoch}'s start (${epoch.source}, ${epoch.destination})`,
        'read each backend at or after the epoch start (resourceVersionMatch=NotOlderThan)',
      );
    }
    if (dd >= MERGED_DESTINATION_LIMIT) {
      throw routingError(
        `the destination revision ${destination} is beyond merged epoch ${epoch.epoch}'s headroom`,
        'persist a new merged epoch first (needsRoll)',
      );
    }
    const value = MERGED_RV_BASE + this.offsets[this.offsets.length - 1]! + (ds << BigInt(MERGED_DESTINATION_BITS)) + dd;
    if (value > MAX_RV) {
      throw routingError(`the merged resourceVersion sequence is exhausted at source revision ${source} (2^63 - 1 reached)`, exhaustedFix);
    }
    return value.toString();
  }

  /** True when (source, destination) cannot be presented until a new epoch starts: none yet, or the destination's delta passes the headroom. */
  needsRoll(source: bigint, destination: bigint): boolean {
    const epoch = this.current;
    if (!epoch) return true;
    return source >= BigInt(epoch.source) && destination - BigInt(epoch.destination) >= MERGED_DESTINATION_LIMIT;
  }

  /**
   * What a client's RV means. With `known` (both backends' revisions, read after the RV was presented),
   * a current-epoch position beyond them is `ahead`: a replica whose table is behind reads an RV of an
   * epoch it has not loaded as a position of its own last epoch with a source revision at least
   * MERGED_SOURCE_MARGIN beyond the switch. A `known` older than the RV can only turn a valid RV into
   * `ahead`, never the reverse; so on `ahead`, read both backends' current revisions and reload the
   * table, decode again, and answer 410 only if it is still `ahead` (else a replica behind another
   * replica's list would send its client into a relist loop).
   */
  decode(presented: string, known?: KnownRevisions): DecodedMergedRV {
    if (presented === '' || presented === '0') return { kind: 'unset' };
    if (!/^\d{1,19}$/.test(presented)) return { kind: 'invalid' };
    const value = BigInt(presented);
    if (value > MAX_RV) return { kind: 'invalid' };
    if (value < MERGED_RV_BASE) return { kind: 'not-merged', value };
    if (this.epochs.length === 0) return { kind: 'ahead' };
    const relative = value - MERGED_RV_BASE;
    // Epoch e covers [offset_e, offset_{e+1}) above the base.
    let index = this.offsets.length - 1;
    while (index > 0 && relative < this.offsets[index]!) index--;
    const epoch = this.epochs[index]!;
    if (index !== this.offsets.length - 1) return { kind: 'older-epoch', epoch: epoch.epoch };
    const delta = relative - this.offsets[index]!;
    const dd = delta & (DESTINATION_SPAN - 1n);
    if (dd >= MERGED_DESTINATION_LIMIT) return { kind: 'invalid' };
    const source = BigInt(epoch.source) + (delta >> BigInt(MERGED_DESTINATION_BITS));
    const destination = BigInt(epoch.destination) + dd;
    if (known && (source > known.source || destination > known.destination)) return { kind: 'ahead' };
    return { kind: 'current', epoch: epoch.epoch, source, destination };
  }
}

/** True for a value in the merged range, a decimal in [2^62, 2^63): only merged reads present those. */
export function isMergedRV(presented: string): boolean {
  if (!/^\d{19}$/.test(presented)) return false;
  const value = BigInt(presented);
  return value >= MERGED_RV_BASE && value <= MAX_RV;
}

/**
 * The presented -> backend mapping of a request of one namespace (a write's RV or precondition, a
 * `resourceVersion=` read, a watch of that namespace after a merged list): a merged RV stands for the
 * position's component of the namespace's owner, which for an RV a merged watch event carried is that
 * object's own backend revision. Undefined (410 for list and watch, 409 for a precondition) for an older
 * epoch, ahead or invalid; RVs below 2^62 go to `perShard` (the namespace shard's own codec). Without
 * this, a shard in epoch 0 (identity) would pass a merged RV to its backend as a revision far ahead.
 */
export function mergedRequestRVMapper(
  codec: MergedRVCodec,
  owner: ClusterSide,
  perShard: (rv: string) => string | undefined,
  known?: KnownRevisions,
): (rv: string) => string | undefined {
  return (rv) => {
    if (!isMergedRV(rv)) return perShard(rv);
    const decoded = codec.decode(rv, known);
    return decoded.kind === 'current' ? decoded[owner].toString() : undefined;
  };
}

const exhaustedFix =
  'the merged sequence holds 2^38 source revisions or ~4M epochs (docs/adr/0025); end the split: finish the migration of the carried types, or keep namespaces where they are';

const DECIMAL = /^\d+$/;

/**
 * The routing table with a new merged epoch starting at the backends' revisions (decimal strings):
 * at a namespace shard's owner change (the revisions read after the catch-up, in the completing write)
 * or before a reader's destination delta passes the headroom. The first epoch's offset is 0; each next
 * one is offset + (source - previous source + MERGED_SOURCE_MARGIN) * 2^24, above every RV the previous
 * epoch presented for source revisions below source + margin.
 */
export function appendMergedEpoch(table: RoutingTable, source: string, destination: string, now: Date): RoutingTable {
  if (!DECIMAL.test(source) || !DECIMAL.test(destination)) {
    throw routingError(`a merged epoch needs decimal revisions; got source "${source}", destination "${destination}"`);
  }
  const epochs = table.merged?.epochs ?? [];
  const last = epochs[epochs.length - 1];
  let offset = 0n;
  if (last) {
    if (BigInt(source) < BigInt(last.source) || BigInt(destination) < BigInt(last.destination)) {
      throw routingError(
        `a merged epoch at (source ${source}, destination ${destination}) would go back from epoch ${last.epoch}'s (${last.source}, ${last.destination})`,
        'read both backends again: revisions only grow (was a cluster restored from a backup?)',
      );
    }
    offset = BigInt(last.offset) + ((BigInt(source) - BigInt(last.source) + MERGED_SOURCE_MARGIN) << BigInt(MERGED_DESTINATION_BITS));
  }
  if (offset > MERGED_MAX_OFFSET) {
    throw routingError(
      `a merged epoch at source revision ${source} would start at ${MERGED_RV_BASE + offset}, past what 2^63 - 1 leaves room for`,
      exhaustedFix,
    );
  }
  const epoch: MergedEpoch = { epoch: epochs.length, offset: offset.toString(), source, destination, startedAt: now.toISOString() };
  return { ...table, generation: table.generation + 1, merged: { epochs: [...epochs, epoch] } };
}

/** Source revisions the merged sequence can still encode after the current epoch's start (for status). */
export function mergedCapacityLeft(table: RoutingTable): bigint {
  const last = table.merged?.epochs.at(-1);
  const used = last ? BigInt(last.offset) : 0n;
  return (MAX_RV + 1n - MERGED_RV_BASE - used) >> BigInt(MERGED_DESTINATION_BITS);
}

function fail(field: string, problem: string): never {
  throw routingError(`routing table: ${field}: ${problem}`, 'the message names the field; fix the table');
}

/**
 * Checks `RoutingTable.merged` as read from storage: epochs numbered 0..n, offsets decimal, the first 0,
 * each next at least the previous plus (its source progress + the margin) * 2^24 and a multiple of 2^24
 * (so no epoch's range overlaps the last one's RVs), revisions decimal and non-decreasing.
 */
export function validateMergedEpochs(field: string, value: unknown): void {
  if (typeof value !== 'object' || value === null) fail(field, 'must be an object');
  const epochs = (value as { epochs?: unknown }).epochs;
  if (!Array.isArray(epochs)) fail(`${field}.epochs`, 'must be a list');
  let previous: { offset: bigint; source: bigint; destination: bigint } | undefined;
  epochs.forEach((raw: unknown, i) => {
    const at = `${field}.epochs[${i}]`;
    if (typeof raw !== 'object' || raw === null) fail(at, 'must be an object');
    const e = raw as Partial<Record<keyof MergedEpoch, unknown>>;
    if (e.epoch !== i) fail(`${at}.epoch`, `must be ${i}`);
    for (const key of ['offset', 'source', 'destination'] as const) {
      const v = e[key];
      if (typeof v !== 'string' || !DECIMAL.test(v)) fail(`${at}.${key}`, 'must be a decimal string');
    }
    if (typeof e.startedAt !== 'string') fail(`${at}.startedAt`, 'must be a string');
    const offset = BigInt(e.offset as string);
    const source = BigInt(e.source as string);
    const destination = BigInt(e.destination as string);
    if (offset > MERGED_MAX_OFFSET) fail(`${at}.offset`, 'leaves no room below 2^63');
    if (offset % DESTINATION_SPAN !== 0n) fail(`${at}.offset`, 'must be a multiple of 2^24');
    if (!previous && offset !== 0n) fail(`${at}.offset`, 'must be 0 in the first epoch');
    if (previous) {
      if (source < previous.source) fail(`${at}.source`, "must not be below the previous epoch's");
      if (destination < previous.destination) fail(`${at}.destination`, "must not be below the previous epoch's");
      const least = previous.offset + ((source - previous.source + MERGED_SOURCE_MARGIN) << BigInt(MERGED_DESTINATION_BITS));
      if (offset < least) fail(`${at}.offset`, `must be at least ${least} (the previous offset plus (source progress + 2^16) * 2^24)`);
    }
    previous = { offset, source, destination };
  });
}
