/**
 * Namespace shards in the synchronizer, against real clusters (synchronizer/README.md, "Namespace
 * shards"): with ConfigMaps and Secrets carried per namespace, namespace A owned by the destination and
 * B by the source, each namespace mirrors from its owner only, no copy comes back, deletions follow the
 * same direction, the catch-up question `namespace/A` is caught up only once A's changes are across,
 * and a hand-off of A turns A around while B keeps its direction. The synchronizer starts with type
 * shards, as before a rollout's first namespace stage, and its type mirrors give way to the carried
 * mirrors when the table names the types. A lab of its own: the test writes the routing table.
 */
// First: a lab of its own (private-lab.ts), before any module reads a kubeconfig.
import '../helpers/private-lab.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CatchUpClient } from '../../lib/mirror/catchup-client.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { MIRROR_OF_UID_ANNOTATION } from '../../lib/names.js';
import { ConfigMapRoutingStore } from '../../lib/routing/configmap-store.js';
import { beginHandoff, completeHandoff } from '../../lib/routing/routing-table.js';
import { namespaceShardKey } from '../../lib/routing/shard-hash.js';
import type { ClusterSide, RoutingTable } from '../../lib/routing/types.js';
import type { KubeObject } from '../../lib/kube/types.js';
import { waitUntil } from '../../lib/wait-until.js';
import { currentRevision, type ClusterConnection } from '../../lib/kube/cluster-connection.js';
import { loadSyncConfig } from '../../synchronizer/config.js';
import { carriedMirrorKey, startSynchronizer, type RunningSynchronizer } from '../../synchronizer/server.js';
import { uniqueName } from '../helpers/lab-clients.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';
import { synchronizerTestbed, type SynchronizerTestbed } from '../helpers/synchronizer-testbed.js';

const CARRIED = ['configmaps', 'secrets'];
/** Long enough for a mirror to have copied an object many times over (it takes milliseconds). */
const WOULD_HAVE_COPIED_MS = 3000;

let bed: SynchronizerTestbed;
let source: KubeRestClient;
let destination: KubeRestClient;
let connections: Record<ClusterSide, ClusterConnection>;
let sync: RunningSynchronizer;
let catchUp: CatchUpClient;
let store: ConfigMapRoutingStore;
/** Owned by the destination at the start. */
let nsA: string;
/** Owned by the source throughout. */
let nsB: string;
const client = (side: ClusterSide) => (side === 'source' ? source : destination);
const otherSide = (side: ClusterSide): ClusterSide => (side === 'source' ? 'destination' : 'source');
const path = (namespace: string, name = '', resource = 'configmaps') => `/api/v1/namespaces/${namespace}/${resource}${name ? `/${name}` : ''}`;
const read = async (side: ClusterSide, namespace: string, name: string, resource = 'configmaps') => {
  const got = await client(side).request<KubeObject>('GET', path(namespace, name, resource));
  return got.status === 200 ? got.body : undefined;
};
const exists = async (side: ClusterSide, namespace: string, name: string, resource = 'configmaps') =>
  (await read(side, namespace, name, resource)) !== undefined;
const create = async (side: ClusterSide, namespace: string, name: string, resource = 'configmaps') =>
  (
    await client(side).expect<KubeObject>('POST', path(namespace, '', resource), [201], {
      metadata: { name },
      data: { made: Buffer.from(side).toString('base64') },
    })
  ).body;
/** Writes of the carried types in one direction, so far. */
const writesBy = async (direction: string) =>
  (await sync.writes.get()).values.filter((v) => v.labels.direction === direction && CARRIED.includes(String(v.labels.shard))).reduce((n, v) => n + v.value, 0);

async function writeTable(change: (table: RoutingTable) => RoutingTable): Promise<void> {
  const { table, version } = await store.load();
  await store.replace(change(table), version);
}

/**
 * The aggregator's hand-off of namespace A, as its steps write the table: hold, catch-up from the old
 * owner, new epoch; `afterCatchUp` runs between the catch-up and the new epoch.
 */
async function moveA(to: ClusterSide, afterCatchUp: () => Promise<void>): Promise<void> {
  const from = otherSide(to);
  await writeTable((table) => beginHandoff(table, namespaceShardKey(nsA), to, new Date()));
  const answer = await catchUp.waitFor({ shard: namespaceShardKey(nsA), from, rv: await currentRevision(connections[from]!) }, 30_000);
  expect(answer.caughtUp).toBe(true);
  await afterCatchUp();
  const rv = await currentRevision(connections[from]!);
  await writeTable((table) => completeHandoff(table, namespaceShardKey(nsA), rv, new Date()));
}

/** Waits until neither mirror has received events it has not applied, then a while longer for any echo to show. */
async function settled(): Promise<void> {
  await waitUntil('the mirrors to apply what they received', () => sync.status().mirrors.every((m) => m.pendingEvents === 0 && m.phase === 'watching'));
  await new Promise((resolve) => setTimeout(resolve, WOULD_HAVE_COPIED_MS));
}

beforeAll(async () => {
  bed = await synchronizerTestbed('sync-ns', CARRIED);
  ({ source, destination, connections, store } = bed);
  nsA = uniqueName('sync-ns-a');
  nsB = uniqueName('sync-ns-b');
  for (const side of ['source', 'destination'] as const)
    for (const name of [nsA, nsB]) await client(side).expect('POST', '/api/v1/namespaces', [201], { metadata: { name } });
  // First type shards, as before any namespace stage: b0 is mirrored by the configmaps type mirror.
  sync = await startSynchronizer({ ...loadSyncConfig(bed.env), leaseName: uniqueName('sync-ns') }, silentLog);
  await waitUntil('the type mirrors to sync', () => CARRIED.every((shard) => sync.mirrors.get(shard)?.progress().initialSyncComplete));
  await create('source', nsB, 'b0');
  await waitUntil('b0 mirrored by the type mirror', () => exists('destination', nsB, 'b0'));
  // Then ConfigMaps and Secrets carried per namespace, and A handed to the destination (as a completed hand-off writes it).
  await writeTable((table) => ({ ...table, namespaceTypes: CARRIED }));
  const sourceRV = await currentRevision(connections.source!);
  await writeTable((table) =>
    completeHandoff(beginHandoff(table, namespaceShardKey(nsA), 'destination', new Date()), namespaceShardKey(nsA), sourceRV, new Date()),
  );
  await waitUntil('the type mirrors replaced by both mirrors of each carried type, synced', () =>
    CARRIED.every(
      (shard) =>
        !sync.mirrors.has(shard) &&
        (['source', 'destination'] as const).every((side) => sync.mirrors.get(carriedMirrorKey(shard, side))?.progress().initialSyncComplete),
    ),
  );
  catchUp = bed.catchUpClient(sync.port);
}, 180_000);

afterAll(() => bed?.close(sync), 120_000);

describe('namespace shards: each namespace of a carried type mirrors from its owner', () => {
  it('copies A from the destination and B from the source, ConfigMaps and Secrets alike, and neither copy comes back', async () => {
    // What the type mirror copied before the type was carried is still there, once.
    expect((await read('destination', nsB, 'b0'))?.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION]).toBe((await read('source', nsB, 'b0'))?.metadata.uid);
    const before = { toSource: await writesBy('destination->source'), toDestination: await writesBy('source->destination') };
    const a1 = await create('destination', nsA, 'a1');
    const aSecret = await create('destination', nsA, 'a-secret', 'secrets');
    const b1 = await create('source', nsB, 'b1');
    await waitUntil('A mirrored to the source', async () => (await exists('source', nsA, 'a1')) && exists('source', nsA, 'a-secret', 'secrets'));
    await waitUntil('B mirrored to the destination', () => exists('destination', nsB, 'b1'));
    await settled();
    // Each copy names its original; each original is untouched (no mark, the same resourceVersion): nothing came back.
    expect((await read('source', nsA, 'a1'))?.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION]).toBe(a1.metadata.uid);
    expect((await read('destination', nsB, 'b1'))?.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION]).toBe(b1.metadata.uid);
    for (const [side, ns, original, resource] of [
      ['destination', nsA, a1, 'configmaps'],
      ['destination', nsA, aSecret, 'secrets'],
      ['source', nsB, b1, 'configmaps'],
    ] as const) {
      const now = await read(side, ns, original.metadata.name, resource);
      expect([original.metadata.name, now?.metadata.resourceVersion, now?.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION]]).toEqual([
        original.metadata.name,
        original.metadata.resourceVersion,
        undefined,
      ]);
    }
    expect({
      toSource: (await writesBy('destination->source')) - before.toSource,
      toDestination: (await writesBy('source->destination')) - before.toDestination,
    }).toEqual({
      toSource: 2,
      toDestination: 1,
    });
  });

  it('mirrors a deletion the same way: from the owner only', async () => {
    await client('destination').expect('DELETE', path(nsA, 'a1'), [200]);
    await client('source').expect('DELETE', path(nsB, 'b1'), [200]);
    await waitUntil('the destination delete of A reaches the source', async () => !(await exists('source', nsA, 'a1')));
    await waitUntil('the source delete of B reaches the destination', async () => !(await exists('destination', nsB, 'b1')));
    // A copy deleted on the non-owner side is not an owner's delete: the original stays (and the copy is written again at the next reconcile).
    await create('source', nsB, 'b-kept');
    await waitUntil('b-kept mirrored', () => exists('destination', nsB, 'b-kept'));
    await client('destination').expect('DELETE', path(nsB, 'b-kept'), [200]);
    await settled();
    expect(await exists('source', nsB, 'b-kept')).toBe(true);
  });

  it('answers the catch-up question namespace/A from the destination caught up only once A is across', async () => {
    const a2 = await create('destination', nsA, 'a2');
    const rv = await currentRevision(connections.destination!);
    // Asked at once (no wait): caught up only if a2 is on the source already.
    const quick = await catchUp.status({ shard: namespaceShardKey(nsA), from: 'destination', rv });
    if (quick.caughtUp) expect(await exists('source', nsA, 'a2')).toBe(true);
    // Not caught up with a revision the destination has not reached; A's owner is not the source.
    const beyond = (BigInt(rv) + 1_000_000n).toString();
    expect((await catchUp.status({ shard: namespaceShardKey(nsA), from: 'destination', rv: beyond })).caughtUp).toBe(false);
    expect((await catchUp.status({ shard: namespaceShardKey(nsA), from: 'source', rv: '1' })).caughtUp).toBe(false);
    // The hand-off's question waits; its answer comes once a2 is across.
    const answer = await catchUp.waitFor({ shard: namespaceShardKey(nsA), from: 'destination', rv }, 30_000);
    expect(answer).toMatchObject({ shard: namespaceShardKey(nsA), from: 'destination', caughtUp: true });
    expect(BigInt(answer.syncedRV)).toBeGreaterThanOrEqual(BigInt(rv));
    expect((await read('source', nsA, 'a2'))?.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION]).toBe(a2.metadata.uid);
    // A system namespace is never a namespace shard.
    await expect(catchUp.status({ shard: namespaceShardKey('kube-system'), from: 'source', rv: '1' })).rejects.toThrow(
      /namespace\/kube-system is not mirrored/,
    );
  });

  it('turns A around when A moves to the source, and B keeps its direction', async () => {
    await moveA('source', async () => {
      // Paused from the catch-up to the new epoch: a destination write in A (as the new owner's first writes) is not copied.
      const copiesBefore = await writesBy('destination->source');
      await create('destination', nsA, 'after-catch-up');
      await new Promise((resolve) => setTimeout(resolve, WOULD_HAVE_COPIED_MS));
      expect([await exists('source', nsA, 'after-catch-up'), await writesBy('destination->source')]).toEqual([false, copiesBefore]);
    });
    await waitUntil('the source-side mirror to take A over', () => sync.mirrors.get(carriedMirrorKey('configmaps', 'source'))!.syncedRVOf(nsA) > 0n);
    // Everything A had is still on both sides.
    expect([await exists('source', nsA, 'a2'), await exists('destination', nsA, 'a2')]).toEqual([true, true]);
    await create('source', nsA, 'a-from-source');
    await create('destination', nsA, 'a-stray');
    await create('source', nsB, 'b2');
    await create('destination', nsB, 'b-stray');
    await waitUntil('a source create in A mirrored to the destination', () => exists('destination', nsA, 'a-from-source'));
    await waitUntil('B still mirrored to the destination', () => exists('destination', nsB, 'b2'));
    await settled();
    expect([await exists('source', nsA, 'a-stray'), await exists('source', nsB, 'b-stray'), await exists('source', nsA, 'after-catch-up')]).toEqual([
      false,
      false,
      false,
    ]);
    // A deletion in A now goes from the source.
    await client('source').expect('DELETE', path(nsA, 'a2'), [200]);
    await waitUntil('the source delete of a2 reaches the destination', async () => !(await exists('destination', nsA, 'a2')));
  });
});
