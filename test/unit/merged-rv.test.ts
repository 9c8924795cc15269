import { describe, expect, it } from '@jest/globals';
import { isBridgeError } from '../../lib/errors.js';
import {
  appendMergedEpoch,
  MERGED_DESTINATION_BITS,
  MERGED_DESTINATION_HEADROOM,
  MERGED_DESTINATION_LIMIT,
  MERGED_MAX_OFFSET,
  MERGED_RV_BASE,
  MERGED_SOURCE_MARGIN,
  isMergedRV,
  mergedRequestRVMapper,
  mergedCapacityLeft,
  MergedRVCodec,
  validateMergedEpochs,
} from '../../lib/routing/merged-rv.js';
import { RoutingState } from '../../lib/routing/routing-state.js';
import { requestRVMapper, ShardRVCodec } from '../../lib/routing/resource-version.js';
import { emptyRoutingTable, shardState, validateRoutingTable } from '../../lib/routing/routing-table.js';
import type { MergedEpoch, RoutingTable } from '../../lib/routing/types.js';

const NOW = new Date('2026-12-07T12:00:00Z');
const SPAN = 2n ** 24n;
const MAX = 2n ** 63n - 1n;

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return isBridgeError(err) ? `${err.code}: ${err.message}` : String(err);
  }
  return 'no error';
}

/** Epoch 0 at (1000, 500); epoch 1 after a hand-off at (1200, 700). */
function twoEpochs(): RoutingTable {
  return appendMergedEpoch(appendMergedEpoch(emptyRoutingTable(), '1000', '500', NOW), '1200', '700', NOW);
}

describe('constants', () => {
  it('are the ones ns-design section 2 fixes', () => {
    expect(MERGED_RV_BASE).toBe(4611686018427387904n);
    expect(MERGED_DESTINATION_BITS).toBe(24);
    expect(MERGED_DESTINATION_HEADROOM).toBe(65536n);
    expect(MERGED_SOURCE_MARGIN).toBe(65536n);
    expect(MERGED_DESTINATION_LIMIT).toBe(16_711_680n);
    // Capacity: 2^38 source-revision slots, ~4M epochs of pure margin.
    expect(mergedCapacityLeft(emptyRoutingTable())).toBe(2n ** 38n);
    expect(2n ** 38n / MERGED_SOURCE_MARGIN).toBe(4_194_304n);
  });
});

describe('appendMergedEpoch', () => {
  it('starts at offset 0 and adds (source progress + margin) * 2^24 per epoch, generation + 1', () => {
    const first = appendMergedEpoch(emptyRoutingTable(), '1000', '500', NOW);
    expect(first.generation).toBe(1);
    expect(first.merged!.epochs).toEqual([{ epoch: 0, offset: '0', source: '1000', destination: '500', startedAt: NOW.toISOString() }]);
    const second = appendMergedEpoch(first, '1200', '700', NOW);
    expect(second.generation).toBe(2);
    expect(second.merged!.epochs[1]).toMatchObject({ epoch: 1, offset: ((200n + MERGED_SOURCE_MARGIN) * SPAN).toString(), source: '1200', destination: '700' });
    // Same revisions again (two hand-offs with no write between): the offset still grows by the margin.
    const third = appendMergedEpoch(second, '1200', '700', NOW);
    expect(BigInt(third.merged!.epochs[2]!.offset) - BigInt(second.merged!.epochs[1]!.offset)).toBe(MERGED_SOURCE_MARGIN * SPAN);
    expect(() => validateRoutingTable(JSON.parse(JSON.stringify(third)))).not.toThrow();
  });

  it('refuses revisions that go back, non-decimals, and a range past 2^63 - 1', () => {
    const table = twoEpochs();
    expect(codeOf(() => appendMergedEpoch(table, '1199', '700', NOW))).toMatch(/^BRIDGE_ERR_ROUTING: .*would go back/);
    expect(codeOf(() => appendMergedEpoch(table, '1200', '699', NOW))).toMatch(/^BRIDGE_ERR_ROUTING: .*would go back/);
    expect(codeOf(() => appendMergedEpoch(table, '12e3', '700', NOW))).toMatch(/^BRIDGE_ERR_ROUTING: .*decimal/);
    // Epoch 0 at source 0: the last epoch that fits starts at offset MERGED_MAX_OFFSET, one source revision more does not.
    const start = appendMergedEpoch(emptyRoutingTable(), '0', '0', NOW);
    const lastSource = MERGED_MAX_OFFSET / SPAN - MERGED_SOURCE_MARGIN;
    const fits = appendMergedEpoch(start, lastSource.toString(), '0', NOW);
    expect(BigInt(fits.merged!.epochs[1]!.offset)).toBe(MERGED_MAX_OFFSET);
    expect(mergedCapacityLeft(fits)).toBe(MERGED_SOURCE_MARGIN);
    expect(codeOf(() => appendMergedEpoch(start, (lastSource + 1n).toString(), '0', NOW))).toMatch(/^BRIDGE_ERR_ROUTING: .*past what 2\^63 - 1/);
    // And the last epoch's range really ends at 2^63 - 1.
    const codec = MergedRVCodec.forTable(fits);
    const top = lastSource + MERGED_SOURCE_MARGIN - 1n;
    expect(codec.present(top, MERGED_DESTINATION_LIMIT - 1n)).toBe((MAX - MERGED_DESTINATION_HEADROOM).toString());
    expect(codeOf(() => codec.present(top + 1n, 0n))).toMatch(/exhausted/);
  });
});

describe('MergedRVCodec.present', () => {
  it('puts epoch 0 start exactly at 2^62 and is lexicographic in (s, d)', () => {
    const codec = MergedRVCodec.forTable(twoEpochs());
    const epoch0 = new MergedRVCodec(twoEpochs().merged!.epochs.slice(0, 1));
    expect(epoch0.present(1000n, 500n)).toBe(MERGED_RV_BASE.toString());
    expect(epoch0.present(1000n, 501n)).toBe((MERGED_RV_BASE + 1n).toString());
    expect(epoch0.present(1001n, 500n)).toBe((MERGED_RV_BASE + SPAN).toString());
    // The last destination delta of an epoch is below the next source revision's first value.
    expect(BigInt(epoch0.present(1000n, 500n + MERGED_DESTINATION_LIMIT - 1n))).toBeLessThan(BigInt(epoch0.present(1001n, 500n)));
    const firstOfEpoch1 = MERGED_RV_BASE + (200n + MERGED_SOURCE_MARGIN) * SPAN;
    expect(codec.present(1200n, 700n)).toBe(firstOfEpoch1.toString());
    // The largest RV epoch 0 can present for a source revision inside the margin stays below epoch 1.
    const lastOfEpoch0 = BigInt(epoch0.present(1200n + MERGED_SOURCE_MARGIN - 1n, 500n + MERGED_DESTINATION_LIMIT - 1n));
    expect(lastOfEpoch0).toBe(firstOfEpoch1 - 1n - MERGED_DESTINATION_HEADROOM);
  });

  it('refuses positions before the epoch, past the headroom, and without an epoch', () => {
    const codec = MergedRVCodec.forTable(twoEpochs());
    expect(codeOf(() => codec.present(1199n, 700n))).toMatch(/before merged epoch 1's start/);
    expect(codeOf(() => codec.present(1200n, 699n))).toMatch(/before merged epoch 1's start/);
    expect(codeOf(() => codec.present(1200n, 700n + MERGED_DESTINATION_LIMIT))).toMatch(/headroom/);
    expect(codec.present(1200n, 700n + MERGED_DESTINATION_LIMIT - 1n)).toMatch(/^\d{19}$/);
    expect(codeOf(() => new MergedRVCodec([]).present(1n, 1n))).toMatch(/^BRIDGE_ERR_ROUTING: no merged/);
  });

  it('needsRoll exactly when the destination delta reaches the headroom (or no epoch exists)', () => {
    const codec = MergedRVCodec.forTable(twoEpochs());
    expect(codec.needsRoll(5000n, 700n + MERGED_DESTINATION_LIMIT - 1n)).toBe(false);
    expect(codec.needsRoll(5000n, 700n + MERGED_DESTINATION_LIMIT)).toBe(true);
    expect(new MergedRVCodec([]).needsRoll(1n, 1n)).toBe(true);
    // After the roll the same position presents, above everything the old epoch presented.
    const rolled = appendMergedEpoch(twoEpochs(), '5000', (700n + MERGED_DESTINATION_LIMIT).toString(), NOW);
    const next = MergedRVCodec.forTable(rolled);
    expect(next.needsRoll(5000n, 700n + MERGED_DESTINATION_LIMIT)).toBe(false);
    expect(BigInt(next.present(5000n, 700n + MERGED_DESTINATION_LIMIT))).toBeGreaterThan(BigInt(codec.present(5000n, 700n + MERGED_DESTINATION_LIMIT - 1n)));
  });
});

describe('MergedRVCodec.decode', () => {
  const table = twoEpochs();
  const codec = MergedRVCodec.forTable(table);
  const firstOfEpoch1 = MERGED_RV_BASE + (200n + MERGED_SOURCE_MARGIN) * SPAN;

  it.each([
    ['', { kind: 'unset' }],
    ['0', { kind: 'unset' }],
    ['1', { kind: 'not-merged', value: 1n }],
    [(MERGED_RV_BASE - 1n).toString(), { kind: 'not-merged', value: MERGED_RV_BASE - 1n }],
    [MERGED_RV_BASE.toString(), { kind: 'older-epoch', epoch: 0 }],
    [(firstOfEpoch1 - 1n).toString(), { kind: 'older-epoch', epoch: 0 }],
    [firstOfEpoch1.toString(), { kind: 'current', epoch: 1, source: 1200n, destination: 700n }],
    [(firstOfEpoch1 + 3n * SPAN + 5n).toString(), { kind: 'current', epoch: 1, source: 1203n, destination: 705n }],
    [
      (firstOfEpoch1 + MERGED_DESTINATION_LIMIT - 1n).toString(),
      { kind: 'current', epoch: 1, source: 1200n, destination: 700n + MERGED_DESTINATION_LIMIT - 1n },
    ],
    // A destination delta in the headroom: no epoch ever presents it.
    [(firstOfEpoch1 + MERGED_DESTINATION_LIMIT).toString(), { kind: 'invalid' }],
    [(firstOfEpoch1 + SPAN - 1n).toString(), { kind: 'invalid' }],
    [MAX.toString(), { kind: 'invalid' }],
    [
      (MAX - MERGED_DESTINATION_HEADROOM).toString(),
      {
        kind: 'current',
        epoch: 1,
        source: 1200n + (MAX - MERGED_RV_BASE - (200n + MERGED_SOURCE_MARGIN) * SPAN) / SPAN,
        destination: 700n + MERGED_DESTINATION_LIMIT - 1n,
      },
    ],
    [(MAX + 1n).toString(), { kind: 'invalid' }],
    ['12a', { kind: 'invalid' }],
    ['-5', { kind: 'invalid' }],
    ['99999999999999999999', { kind: 'invalid' }],
  ])('%s', (presented, expected) => {
    expect(codec.decode(presented)).toEqual(expected);
  });

  it('decodes what it presents', () => {
    for (const [s, d] of [
      [1200n, 700n],
      [1200n, 700n + MERGED_DESTINATION_LIMIT - 1n],
      [1_000_000_000n, 800n],
    ] as const) {
      expect(codec.decode(codec.present(s, d))).toEqual({ kind: 'current', epoch: 1, source: s, destination: d });
    }
  });

  it('is "ahead" with no epoch for a merged value, and beyond the known revisions (a replica whose table is behind)', () => {
    expect(new MergedRVCodec([]).decode(MERGED_RV_BASE.toString())).toEqual({ kind: 'ahead' });
    expect(new MergedRVCodec([]).decode('42')).toEqual({ kind: 'not-merged', value: 42n });
    // A replica still on epoch 0 reads epoch 1's first RV as a source revision margin beyond the switch.
    const stale = new MergedRVCodec(table.merged!.epochs.slice(0, 1));
    const known = { source: 1300n, destination: 800n };
    expect(stale.decode(firstOfEpoch1.toString())).toMatchObject({ kind: 'current', source: 1200n + MERGED_SOURCE_MARGIN });
    expect(stale.decode(firstOfEpoch1.toString(), known)).toEqual({ kind: 'ahead' });
    expect(stale.decode(stale.present(1300n, 800n), known)).toMatchObject({ kind: 'current', source: 1300n, destination: 800n });
    expect(stale.decode(stale.present(1300n, 801n), known)).toEqual({ kind: 'ahead' });
  });

  it('two codecs of the same persisted table agree (JSON round trip), and RoutingState builds it once per table', () => {
    const reread = MergedRVCodec.forTable(validateRoutingTable(JSON.parse(JSON.stringify(table))));
    for (const rv of ['0', MERGED_RV_BASE.toString(), firstOfEpoch1.toString(), (firstOfEpoch1 + 77n * SPAN + 9n).toString()]) {
      expect(reread.decode(rv)).toEqual(codec.decode(rv));
    }
    expect(reread.present(1234n, 999n)).toBe(codec.present(1234n, 999n));
    const state = new RoutingState();
    state.update(table, '1');
    expect(state.mergedCodec()).toBe(state.mergedCodec());
    expect(state.mergedCodec().present(1234n, 999n)).toBe(codec.present(1234n, 999n));
    state.update(appendMergedEpoch(table, '2000', '1000', NOW), '2');
    expect(state.mergedCodec().current?.epoch).toBe(2);
  });
});

describe('a merged RV on a request of one namespace', () => {
  const table = twoEpochs();
  const codec = MergedRVCodec.forTable(table);
  const firstOfEpoch1 = MERGED_RV_BASE + (200n + MERGED_SOURCE_MARGIN) * SPAN;

  it('isMergedRV tells the ranges apart by value', () => {
    expect(isMergedRV(MERGED_RV_BASE.toString())).toBe(true);
    expect(isMergedRV(MAX.toString())).toBe(true);
    expect(isMergedRV((MERGED_RV_BASE - 1n).toString())).toBe(false);
    expect(isMergedRV((MAX + 1n).toString())).toBe(false);
    expect(isMergedRV('')).toBe(false);
    expect(isMergedRV('0')).toBe(false);
    expect(isMergedRV('04611686018427387904')).toBe(false);
  });

  it("maps to the owner's component in the current epoch, refuses older epochs, and leaves per-shard RVs to the shard's codec", () => {
    // A namespace shard in epoch 0 is the identity: without the mapper a merged RV would reach the backend unchanged.
    const perShard = requestRVMapper(new ShardRVCodec(shardState(emptyRoutingTable(), 'namespace/team-a')));
    expect(perShard(firstOfEpoch1.toString())).toBe(firstOfEpoch1.toString());
    // An event of a source-owned namespace at source revision 1205 while the destination stood at 710.
    const eventRV = codec.present(1205n, 710n);
    expect(mergedRequestRVMapper(codec, 'source', perShard)(eventRV)).toBe('1205');
    expect(mergedRequestRVMapper(codec, 'destination', perShard)(eventRV)).toBe('710');
    expect(mergedRequestRVMapper(codec, 'source', perShard)('1234')).toBe('1234');
    expect(mergedRequestRVMapper(codec, 'source', perShard)('')).toBe('');
    expect(mergedRequestRVMapper(codec, 'source', perShard)(MERGED_RV_BASE.toString())).toBeUndefined();
    expect(mergedRequestRVMapper(codec, 'source', perShard, { source: 1204n, destination: 710n })(eventRV)).toBeUndefined();
  });
});

describe('validateMergedEpochs', () => {
  const good = twoEpochs().merged!;
  const broken = (change: (epochs: MergedEpoch[]) => void) => {
    const copy = JSON.parse(JSON.stringify(good)) as { epochs: MergedEpoch[] };
    change(copy.epochs);
    return codeOf(() => validateMergedEpochs('merged', copy));
  };

  it('accepts what appendMergedEpoch writes and names the first bad field', () => {
    expect(codeOf(() => validateMergedEpochs('merged', good))).toBe('no error');
    expect(codeOf(() => validateMergedEpochs('merged', { epochs: [] }))).toBe('no error');
    expect(codeOf(() => validateMergedEpochs('merged', null))).toMatch(/merged: must be an object/);
    expect(codeOf(() => validateMergedEpochs('merged', { epochs: 'x' }))).toMatch(/merged.epochs: must be a list/);
    expect(broken((e) => (e[1]!.epoch = 2))).toMatch(/merged.epochs\[1\].epoch: must be 1/);
    expect(broken((e) => (e[0]!.offset = String(SPAN)))).toMatch(/epochs\[0\].offset: must be 0/);
    expect(broken((e) => (e[1]!.offset = String(BigInt(e[1]!.offset) - SPAN)))).toMatch(/epochs\[1\].offset: must be at least/);
    expect(broken((e) => (e[1]!.offset = String(BigInt(e[1]!.offset) + 1n)))).toMatch(/multiple of 2\^24/);
    expect(broken((e) => (e[1]!.offset = String(MERGED_MAX_OFFSET + SPAN)))).toMatch(/no room below 2\^63/);
    expect(broken((e) => (e[1]!.source = '999'))).toMatch(/epochs\[1\].source: must not be below/);
    expect(broken((e) => (e[1]!.destination = '499'))).toMatch(/epochs\[1\].destination: must not be below/);
    expect(broken((e) => (e[1]!.destination = '7e2'))).toMatch(/epochs\[1\].destination: must be a decimal string/);
    expect(broken((e) => ((e[1] as unknown as Record<string, unknown>).startedAt = 3))).toMatch(/startedAt/);
  });

  it('runs inside validateRoutingTable', () => {
    const table = JSON.parse(JSON.stringify(twoEpochs())) as RoutingTable;
    table.merged!.epochs[1]!.source = '1';
    expect(codeOf(() => validateRoutingTable(table))).toMatch(/^BRIDGE_ERR_ROUTING: routing table: merged.epochs\[1\].source/);
  });
});
