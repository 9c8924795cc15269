// Namespace shards in the synchronizer: which way each namespace of a carried type mirrors
// (synchronizer/namespace-directions.ts), a carried type's two mirrors over in-memory API servers
// (each covering the namespaces its side owns, none bouncing the other's copies back, a namespace
// turned around alone), and the catch-up bookkeeping of a namespace shard (synchronizer/catchup-target.ts).
// The lab test is test/e2e/synchronizer-namespace-shards.test.ts.
import { afterEach, describe, expect, it } from '@jest/globals';
import { waitUntil } from '../../lib/wait-until.js';
import { MIRROR_OF_UID_ANNOTATION } from '../../lib/names.js';
import type { KubeObject } from '../../lib/kube/types.js';
import { abortHandoff, beginHandoff, completeHandoff, emptyRoutingTable } from '../../lib/routing/routing-table.js';
import { namespaceShardKey } from '../../lib/routing/shard-hash.js';
import type { ClusterSide, RoutingTable } from '../../lib/routing/types.js';
import { applyDirectionChanges, carriedTypes, NamespaceDirections, namespaceOwner } from '../../synchronizer/namespace-directions.js';
import { namespaceTarget } from '../../synchronizer/catchup-target.js';
import { ShardMirror, type MirrorCounters } from '../../synchronizer/shard-mirror.js';
import { CONFIGMAPS_API, FakeCluster } from '../helpers/mirror-fixtures.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';

const NOW = new Date('2026-12-07T12:00:00Z');
const carrying = (table: RoutingTable): RoutingTable => ({ ...table, namespaceTypes: ['configmaps', 'secrets'] });
/** Namespace `a` moved to the destination (a completed hand-off), `b` never moved. */
function aOnDestination(sourceRV = '500'): RoutingTable {
  const key = namespaceShardKey('a');
  return completeHandoff(beginHandoff(carrying(emptyRoutingTable()), key, 'destination', NOW), key, sourceRV, NOW);
}

describe('namespaceOwner and carriedTypes', () => {
  it("is the namespace shard's owner, the source without one, and the source for system namespaces", () => {
    const table = aOnDestination();
    expect([namespaceOwner(table, 'a'), namespaceOwner(table, 'b'), namespaceOwner(table, 'kube-system'), namespaceOwner(table, '')]).toEqual([
      'destination',
      'source',
      'source',
      'source',
    ]);
  });

  it('carries the types of namespaceTypes the synchronizer mirrors, and none without namespaceTypes', () => {
    expect(carriedTypes(aOnDestination(), ['configmaps', 'services', 'secrets'])).toEqual(['configmaps', 'secrets']);
    expect(carriedTypes(emptyRoutingTable(), ['configmaps'])).toEqual([]);
  });
});

describe('NamespaceDirections', () => {
  it('gives each namespace to exactly one side', () => {
    const directions = new NamespaceDirections();
    directions.update(aOnDestination());
    const covering = (ns: string) => (['source', 'destination'] as const).filter((side) => directions.covers(side, ns));
    expect([covering('a'), covering('b'), covering('never-named')]).toEqual([['destination'], ['source'], ['source']]);
  });

  it("turns one namespace around when its owner changes, and leaves the others' direction alone", () => {
    const directions = new NamespaceDirections();
    const before = carrying(emptyRoutingTable());
    expect(directions.update(before)).toEqual([]);
    const held = beginHandoff(before, namespaceShardKey('a'), 'destination', NOW);
    expect(directions.update(held)).toEqual([]); // a hold changes no direction
    expect(directions.update(completeHandoff(held, namespaceShardKey('a'), '500', NOW))).toEqual([{ namespace: 'a', from: 'source', to: 'destination' }]);
    expect([directions.covers('destination', 'a'), directions.covers('source', 'b')]).toEqual([true, true]);
  });

  it('pauses the old side from the catch-up to the end of the hand-off: resumed when aborted, turned around when completed', () => {
    const directions = new NamespaceDirections();
    const held = beginHandoff(carrying(emptyRoutingTable()), namespaceShardKey('a'), 'destination', NOW);
    directions.update(held);
    directions.pause('a', 'source');
    expect([directions.isPaused('a'), directions.covers('destination', 'a'), directions.covers('source', 'b')]).toEqual([true, false, true]);
    expect(directions.update({ ...held, generation: held.generation + 1 })).toEqual([]); // still held: still paused
    expect(directions.update(abortHandoff(held, namespaceShardKey('a')))).toEqual([{ namespace: 'a', to: 'source' }]);
    expect([directions.isPaused('a'), directions.covers('source', 'a')]).toEqual([false, true]);

    const heldAgain = beginHandoff(carrying(emptyRoutingTable()), namespaceShardKey('a'), 'destination', NOW);
    directions.update(heldAgain);
    directions.pause('a', 'source');
    expect(directions.update(completeHandoff(heldAgain, namespaceShardKey('a'), '500', NOW))).toEqual([{ namespace: 'a', from: 'source', to: 'destination' }]);
    expect([directions.isPaused('a'), directions.covers('destination', 'a')]).toEqual([false, true]);
  });

  it("answers a scope's per-namespace facts from the table: the hand-over revision, and whether source-first marks are stale", () => {
    const directions = new NamespaceDirections();
    const table = aOnDestination('500');
    directions.update(table);
    expect([directions.scope('destination').handedOverAtReplicaRV('a'), directions.scope('source').handedOverAtReplicaRV('a')]).toEqual([500n, undefined]);
    expect(directions.scope('destination').handedOverAtReplicaRV('b')).toBeUndefined();
    directions.update(beginHandoff(table, namespaceShardKey('b'), 'destination', NOW));
    expect([directions.scope('source').sourceFirstMarksStale('b'), directions.scope('source').sourceFirstMarksStale('c')]).toEqual([false, true]);
  });
});

const configMap = (namespace: string, name: string, extra: Partial<KubeObject['metadata']> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace, ...extra },
  data: { made: namespace },
});
const at = (cluster: FakeCluster, namespace: string, name: string) => cluster.objects.get(`/api/v1/namespaces/${namespace}/configmaps/${name}`);

/** Writes by direction and verb. */
function recordingCounters(): MirrorCounters & { writes: string[] } {
  const writes: string[] = [];
  return {
    writes,
    written: (_shard, direction, verb) => writes.push(`${direction} ${verb}`),
    failed: () => undefined,
    ownerReferenceDropped: () => undefined,
    conflict: () => undefined,
    lag: () => undefined,
  };
}

describe("a carried type's two mirrors", () => {
  let running: ShardMirror[] = [];
  afterEach(() => {
    for (const mirror of running) mirror.stop();
    running = [];
  });

  function carriedMirrors(table: RoutingTable) {
    const source = new FakeCluster('source');
    const destination = new FakeCluster('destination');
    const clusters = { source, destination };
    const directions = new NamespaceDirections();
    directions.update(table);
    const counters = recordingCounters();
    const mirrors = {} as Record<ClusterSide, ShardMirror>;
    for (const side of ['source', 'destination'] as const) {
      const replica = clusters[side === 'source' ? 'destination' : 'source'];
      mirrors[side] = new ShardMirror('configmaps', CONFIGMAPS_API, clusters[side].asSide(), replica.asSide(), counters, silentLog);
      mirrors[side].scope = directions.scope(side);
    }
    running = Object.values(mirrors);
    const reconcileBoth = () => Promise.all(Object.values(mirrors).map((m) => m.reconcile()));
    const follow = (next: RoutingTable) => applyDirectionChanges(directions.update(next), (side) => mirrors[side]);
    return { source, destination, directions, counters, mirrors, reconcileBoth, follow };
  }

  it("copies each namespace from its owner, and neither mirror writes the other's copies back", async () => {
    const { source, destination, counters, reconcileBoth } = carriedMirrors(aOnDestination());
    const a1 = destination.add(configMap('a', 'a1'));
    const b1 = source.add(configMap('b', 'b1'));
    await reconcileBoth();
    expect(at(source, 'a', 'a1')?.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION]).toBe(a1.metadata.uid);
    expect(at(destination, 'b', 'b1')?.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION]).toBe(b1.metadata.uid);
    expect(at(source, 'b', 'b1')?.metadata.uid).toBe(b1.metadata.uid); // the original, not overwritten by its copy
    expect(at(destination, 'a', 'a1')?.metadata.uid).toBe(a1.metadata.uid);
    expect(counters.writes.sort()).toEqual(['destination->source create', 'source->destination create']);
    counters.writes.length = 0;
    await reconcileBoth();
    expect(counters.writes).toEqual([]);
  });

  it("applies a watch event of a namespace its side owns, and ignores one of the other direction's copies (a delete never bounces back)", async () => {
    const { source, destination, mirrors, reconcileBoth } = carriedMirrors(aOnDestination());
    const a1 = destination.add(configMap('a', 'a1'));
    source.add(configMap('b', 'b1'));
    await reconcileBoth();
    mirrors.destination.start();
    await waitUntil('the destination mirror to watch', async () => destination.watches.length === 1, { timeoutMs: 5000, intervalMs: 10 });
    // The destination's copy of b1 deleted there (by hand): the source's original stays.
    const b1Copy = at(destination, 'b', 'b1')!;
    destination.objects.delete('/api/v1/namespaces/b/configmaps/b1');
    destination.watches[0]!.write(`${JSON.stringify({ type: 'DELETED', object: { ...b1Copy, metadata: { ...b1Copy.metadata, resourceVersion: '2001' } } })}\n`);
    // The destination's own a1 deleted: its copy on the source goes.
    destination.objects.delete('/api/v1/namespaces/a/configmaps/a1');
    destination.watches[0]!.write(`${JSON.stringify({ type: 'DELETED', object: { ...a1, metadata: { ...a1.metadata, resourceVersion: '2002' } } })}\n`);
    await waitUntil('the delete of a1 mirrored', async () => at(source, 'a', 'a1') === undefined, { timeoutMs: 5000, intervalMs: 10 });
    expect(at(source, 'b', 'b1')).toBeDefined();
    expect(mirrors.destination.syncedRV).toBe(2002n);
  });

  it("turns one namespace around: the new side reconciles it first, deletes what the new owner deleted before it watched, and the other namespace's direction stays", async () => {
    const table = aOnDestination();
    const { source, destination, mirrors, reconcileBoth, follow, counters } = carriedMirrors(table);
    destination.add(configMap('a', 'a-kept'));
    destination.add(configMap('a', 'a-gone'));
    source.add(configMap('b', 'b1'));
    await reconcileBoth();
    // a goes back to the source; before the source-side mirror takes it over, the source deletes a-gone.
    const held = beginHandoff(table, namespaceShardKey('a'), 'source', NOW);
    follow(held);
    source.objects.delete('/api/v1/namespaces/a/configmaps/a-gone');
    counters.writes.length = 0;
    follow(completeHandoff(held, namespaceShardKey('a'), '900', NOW));
    expect(mirrors.source.syncedRVOf('a')).toBe(0n); // not known complete until the reconcile its join queued
    expect(mirrors.source.syncedRVOf('b')).toBe(mirrors.source.syncedRV);
    await waitUntil('the source mirror to reconcile a', async () => mirrors.source.syncedRVOf('a') > 0n, { timeoutMs: 5000, intervalMs: 10 });
    expect(at(destination, 'a', 'a-gone')).toBeUndefined();
    expect(at(destination, 'a', 'a-kept')).toBeDefined();
    expect(counters.writes).toEqual(['source->destination delete']);
    // b still mirrors source -> destination; a source change in a now reaches the destination, and the destination's no longer the source.
    source.add(configMap('a', 'a-new'));
    destination.add(configMap('a', 'a-stray'));
    await reconcileBoth();
    expect([at(destination, 'a', 'a-new') !== undefined, at(source, 'a', 'a-stray') !== undefined]).toEqual([true, false]);
    expect(at(destination, 'b', 'b1')?.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION]).toBe(at(source, 'b', 'b1')?.metadata.uid);
  });
});

describe('a namespace paused at its catch-up', () => {
  it("copies nothing of that namespace from watch events or the watch loop's relists, only in a catch-up question's reconcile, and stays known complete at the revision answered", async () => {
    const source = new FakeCluster('source');
    const destination = new FakeCluster('destination');
    const directions = new NamespaceDirections();
    directions.update(beginHandoff(carrying(emptyRoutingTable()), namespaceShardKey('a'), 'destination', NOW));
    const mirror = new ShardMirror('configmaps', CONFIGMAPS_API, source.asSide(), destination.asSide(), recordingCounters(), silentLog);
    mirror.scope = directions.scope('source');
    try {
      source.add(configMap('a', 'before'));
      expect(await mirror.reconcile({ paused: true })).toBe(1000n);
      mirror.pauseNamespace('a');
      const answeredAt = mirror.syncedRVOf('a');
      mirror.start();
      await waitUntil('the watch', async () => source.watches.length === 1, { timeoutMs: 5000, intervalMs: 10 });
      const after = source.add(configMap('a', 'after-catch-up'));
      source.add(configMap('b', 'b-meanwhile'));
      source.watches[0]!.write(`${JSON.stringify({ type: 'ADDED', object: { ...after, metadata: { ...after.metadata, resourceVersion: '1001' } } })}\n`);
      await waitUntil('the event to be handled', async () => mirror.syncedRV === 1001n, { timeoutMs: 5000, intervalMs: 10 });
      await mirror.reconcile(); // a relist of the watch loop
      expect([at(destination, 'a', 'before') !== undefined, at(destination, 'a', 'after-catch-up'), at(destination, 'b', 'b-meanwhile') !== undefined]).toEqual(
        [true, undefined, true],
      );
      expect(mirror.syncedRVOf('a')).toBe(answeredAt);
      // A later question (the hand-off aborted and begun again, unseen): its reconcile copies the paused namespace too.
      await mirror.reconcile({ paused: true });
      expect(at(destination, 'a', 'after-catch-up')).toBeDefined();
    } finally {
      mirror.stop();
    }
  });
});

describe('namespaceTarget: the catch-up bookkeeping of a namespace shard', () => {
  const fakeMirror = (shard: string, synced: bigint, failing: string[], lastError?: string) => {
    const mirror = {
      shard,
      reconciled: 0,
      syncedRVOf: (ns: string) => (ns === 'a' ? synced : 999n),
      failingIn: (ns: string) => failing.filter((key) => key.startsWith(`${ns}/`)),
      lastError,
      reconcile: async (options: { paused?: boolean }) => void (options.paused && mirror.reconciled++),
      pauseNamespace: (ns: string) => mirror.pausedNamespaces.push(ns),
      pausedNamespaces: [] as string[],
    };
    return mirror as unknown as ShardMirror & { reconciled: number; pausedNamespaces: string[] };
  };

  it("is as far as its least synced carried type, names each failing object with its type, and reconciles and pauses every carried type's mirror", async () => {
    const configmaps = fakeMirror('configmaps', 40n, ['b/elsewhere']);
    const secrets = fakeMirror('secrets', 30n, ['a/refused'], 'exceeded quota');
    const paused: string[] = [];
    const target = namespaceTarget('namespace/a', 'a', 'destination', [configmaps, secrets], () => paused.push('a'));
    expect([target.syncedRV(), target.failing(), target.lastError()]).toEqual([30n, ['secrets a/refused'], 'exceeded quota']);
    await target.reconcile();
    target.pause();
    expect([configmaps.reconciled, secrets.reconciled, paused, configmaps.pausedNamespaces, secrets.pausedNamespaces]).toEqual([1, 1, ['a'], ['a'], ['a']]);
  });
});
