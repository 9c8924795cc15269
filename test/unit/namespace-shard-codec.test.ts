// A namespace shard's codec once merged RVs exist (lib/routing/namespace-shard-codec.ts): a merged RV
// sent back on a namespaced request decodes to the namespace owner's revision at that position.
import { describe, expect, it } from '@jest/globals';
import { appendMergedEpoch, MergedRVCodec } from '../../lib/routing/merged-rv.js';
import { NamespaceShardRVCodec } from '../../lib/routing/namespace-shard-codec.js';
import { RoutingState } from '../../lib/routing/routing-state.js';
import { shardState } from '../../lib/routing/routing-table.js';
import { namespaceShardKey } from '../../lib/routing/shard-hash.js';
import { NOW, splitTable } from '../helpers/merged-fixtures.js';

describe('namespace shard codec with merged RVs', () => {
  const table = splitTable(['team-a']);
  const merged = new MergedRVCodec(table.merged!.epochs);
  const moved = new NamespaceShardRVCodec(shardState(table, namespaceShardKey('team-a')), merged);
  const stayed = new NamespaceShardRVCodec(shardState(table, namespaceShardKey('team-b')), merged);
  const position = merged.present(1234n, 2345n);

  it("decodes a merged RV to the owner's component: the destination's for a moved namespace, the source's otherwise", () => {
    expect(moved.decode(position)).toEqual({ kind: 'current', backendRV: '2345' });
    expect(stayed.decode(position)).toEqual({ kind: 'current', backendRV: '1234' });
  });

  it('keeps decoding its own per-shard RVs, and a never-moved namespace is not the identity (a merged RV must be mapped)', () => {
    expect(moved.decode(moved.present('2400'))).toEqual({ kind: 'current', backendRV: '2400' });
    expect(stayed.decode('77')).toEqual({ kind: 'current', backendRV: '77' });
    expect(stayed.isIdentity).toBe(false);
    expect(stayed.present('77')).toBe('77');
  });

  it("answers an older merged epoch's RV as an older epoch (410 for reads, 409 for preconditions)", () => {
    const next = appendMergedEpoch(table, '1300', '2400', NOW);
    const codec = new NamespaceShardRVCodec(shardState(next, namespaceShardKey('team-a')), new MergedRVCodec(next.merged!.epochs));
    expect(codec.decode(position).kind).toBe('older-epoch');
  });

  it('RoutingState gives namespace shards this codec only once merged epochs exist', () => {
    const state = new RoutingState();
    state.update(splitTable(['team-a'], null), '1');
    expect(state.codec(namespaceShardKey('team-b')).isIdentity).toBe(true);
    state.update(table, '2');
    expect(state.codec(namespaceShardKey('team-b'))).toBeInstanceOf(NamespaceShardRVCodec);
    expect(state.codec('secrets').isIdentity).toBe(true);
  });
});
