// `bridgectl release` (issue 21): the released table gives every shard to the source with resourceVersions
// still growing, and the report names what the destination owned that the source lacks.
// The lab test is test/e2e/fault-recovery.test.ts.
import { describe, expect, it } from '@jest/globals';
import { compareShard } from '../../cli/release-command.js';
import type { KubeObject } from '../../lib/kube/types.js';
import { appendMergedEpoch, MergedRVCodec } from '../../lib/routing/merged-rv.js';
import { ShardRVCodec } from '../../lib/routing/resource-version.js';
import { releaseToSource } from '../../lib/routing/release.js';
import { beginHandoff, completeHandoff, emptyRoutingTable, shardState, validateRoutingTable } from '../../lib/routing/routing-table.js';

const NOW = new Date('2026-12-07T00:00:00Z');

describe('releaseToSource', () => {
  it('gives every shard to the source, drops holds, and starts each returned epoch above every RV the destination presented', () => {
    let t = emptyRoutingTable();
    t = completeHandoff(beginHandoff(t, 'configmaps', 'destination', NOW), 'configmaps', '5000', NOW);
    t = completeHandoff(beginHandoff(t, 'secrets', 'destination', NOW), 'secrets', '5000', NOW);
    t = beginHandoff(t, 'secrets', 'source', NOW); // a rollback held mid-way
    t = beginHandoff(t, 'services', 'destination', NOW); // a move held mid-way
    const destinationRevision = '7000';
    const before = new ShardRVCodec(shardState(t, 'configmaps'));
    const lastPresented = BigInt(before.present(destinationRevision));
    const { table, returned } = releaseToSource(t, destinationRevision, NOW);
    validateRoutingTable(table);
    expect(returned).toEqual(['configmaps', 'secrets']);
    for (const shard of ['configmaps', 'secrets', 'services'])
      expect([shard, shardState(table, shard).owner, shardState(table, shard).handoff]).toEqual([shard, 'source', undefined]);
    // The source's first revision after the release presents above the destination's last.
    const after = new ShardRVCodec(shardState(table, 'configmaps'));
    expect(BigInt(after.present('1'))).toBeGreaterThan(lastPresented);
  });

  it('appends a merged epoch when a namespace shard comes back (its owners change), and only then', () => {
    let t = completeHandoff(beginHandoff(emptyRoutingTable(), 'namespace/team-a', 'destination', NOW), 'namespace/team-a', '5000', NOW);
    t = appendMergedEpoch(t, '9000', '5000', NOW);
    const before = MergedRVCodec.forTable(t);
    const lastPresented = before.present(9100n, 7000n);
    const { table, returned } = releaseToSource(t, '7000', NOW, '9100');
    validateRoutingTable(table);
    expect(returned).toEqual(['namespace/team-a']);
    expect(table.merged!.epochs.map((e) => [e.epoch, e.source, e.destination])).toEqual([
      [0, '9000', '5000'],
      [1, '9100', '7000'],
    ]);
    const after = MergedRVCodec.forTable(table);
    expect(after.decode(lastPresented)).toEqual({ kind: 'older-epoch', epoch: 0 });
    expect(BigInt(after.present(9100n, 7000n))).toBeGreaterThan(BigInt(lastPresented));
    expect(() => releaseToSource(t, '7000', NOW)).toThrow(/needs the source's revision/);
    // Type shards only: no merged epoch.
    const types = releaseToSource(
      completeHandoff(beginHandoff(emptyRoutingTable(), 'configmaps', 'destination', NOW), 'configmaps', '5000', NOW),
      '7000',
      NOW,
      '1',
    );
    expect(types.table.merged).toBeUndefined();
  });
});

const cm = (name: string, data: Record<string, string>, namespace = 'a'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace },
  data,
});

describe('compareShard', () => {
  it('names what the source lacks, holds older, or still has after the destination deleted it; ignores each cluster’s own objects', () => {
    const report = compareShard(
      'configmaps',
      [cm('same', { v: '1' }), cm('newer', { v: '2' }), cm('only-dest', { v: '1' }), cm('kube-root-ca.crt', { x: 'dest' }), cm('c', {}, 'kube-system')],
      [cm('same', { v: '1' }), cm('newer', { v: '1' }), cm('deleted', { v: '1' }), cm('kube-root-ca.crt', { x: 'src' })],
    );
    expect(report).toEqual({ shard: 'configmaps', missing: ['a/only-dest'], differing: ['a/newer'], deletedOnDestination: ['a/deleted'] });
  });
});
