/**
 * Conflicts on the lab's clusters: a copy in the destination changed behind the synchronizer's back is
 * overwritten with the source's (the owner's) version, counted once in
 * cluster_bridge_synchronizer_conflicts_total and in `bridgectl sync status`, and reported as a
 * MirrorConflict Event on the copy (a copy deleted there: on the copy created again); the
 * synchronizer's own writes (each owner change written once) count none. A custom resource type of
 * its own keeps this test's writes apart from other suites', and a Lease of its own keeps other
 * synchronizers on the lab out of its way.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { CRD_PATH, installTestCrd, labSynchronizerEnv } from '../../lab/local-synchronizer.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { MIRROR_OF_UID_ANNOTATION, SYSTEM_NAMESPACE } from '../../lib/names.js';
import { waitUntil } from '../../lib/wait-until.js';
import { CONFLICT_REASON } from '../../synchronizer/conflict-event.js';
import { loadSyncConfig } from '../../synchronizer/config.js';
import { startSynchronizer, type RunningSynchronizer } from '../../synchronizer/server.js';
import { createNamespace, kubeconfigPath, run, uniqueName } from '../helpers/lab-clients.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';

const group = `${uniqueName('conflicts')}.e2e.cluster-bridge.io`;
const SHARD = `gadgets.${group}`;
let namespace: string;
let sync: RunningSynchronizer;
const leaseName = uniqueName('e2e-sync-conflicts');
const source = KubeRestClient.load(kubeconfigPath('source'));
const destination = KubeRestClient.load(kubeconfigPath('destination'));

interface Gadget {
  metadata: { name: string; uid: string; resourceVersion: string; annotations?: Record<string, string> };
  spec: { value: string };
}

const gadget = (name = '') => `/apis/${group}/v1/namespaces/${namespace}/gadgets${name ? `/${name}` : ''}`;
const setValue = (client: KubeRestClient, name: string, value: string) =>
  client.expect<Gadget>('PATCH', gadget(name), [200], { spec: { value } }, { patchType: 'merge' });
const copyOf = async (name: string) => {
  const got = await destination.request<Gadget>('GET', gadget(name));
  return got.status === 200 ? got.body : undefined;
};
const copyHolds = (name: string, value: string) => waitUntil(`the copy of ${name} to hold ${value}`, async () => (await copyOf(name))?.spec.value === value);

/** A metric's value for this test's shard (0 when absent). */
async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${sync.opsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`shard="${SHARD}"`) && l.includes('direction="source->destination"'));
  return line ? Number(line.split(' ').pop()) : 0;
}

const writes = async (verb: string) =>
  (await sync.writes.get()).values.filter((v) => v.labels.shard === SHARD && v.labels.verb === verb).reduce((n, v) => n + v.value, 0);

async function conflictEvents(name: string): Promise<{ reason: string; type: string; message: string; involvedObject: { uid: string; kind: string } }[]> {
  const selector = encodeURIComponent(`involvedObject.name=${name},reason=${CONFLICT_REASON}`);
  const got = await destination.expect<{ items: never[] }>('GET', `/api/v1/namespaces/${namespace}/events?fieldSelector=${selector}`, [200]);
  return got.body.items;
}

/** The one MirrorConflict Event about `name`, once it is there: a Warning on the replica object `uid`. */
async function theConflictEvent(name: string, uid: string): Promise<{ message: string }> {
  const events = await waitUntil(`the conflict Event on ${name}`, async () => {
    const found = await conflictEvents(name);
    return found.length > 0 && found;
  });
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({ reason: CONFLICT_REASON, type: 'Warning', involvedObject: { uid, kind: 'Gadget' } });
  return events[0]!;
}

beforeAll(async () => {
  await installTestCrd([source, destination], group, 'gadgets', 'Gadget');
  namespace = await createNamespace('source', 'sync-conflicts');
  const config = loadSyncConfig({ ...(await labSynchronizerEnv('sync-conflicts-e2e', [SHARD])), BRIDGE_LEASE_DURATION_SECONDS: '6' });
  sync = await startSynchronizer({ ...config, leaseName }, silentLog);
  await waitUntil('the synchronizer to lead and finish its initial sync', () => sync.status().mirrors[0]?.initialSyncComplete);
}, 120_000);

afterAll(async () => {
  await sync?.close();
  for (const client of [source, destination]) {
    await client.request('DELETE', `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    await client.request('DELETE', `${CRD_PATH}/${SHARD}`).catch(() => undefined);
    client.close();
  }
  await destination.request('DELETE', `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases/${leaseName}`).catch(() => undefined);
}, 60_000);

describe('conflicts between the owner and a copy changed behind the synchronizer', () => {
  it("counts none for the synchronizer's own writes: each owner change is written once and the copies are never judged changed", async () => {
    await source.expect('POST', gadget(), [201], { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'calm' }, spec: { value: 'v1' } });
    await copyHolds('calm', 'v1');
    for (const value of ['v2', 'v3', 'v4']) {
      await setValue(source, 'calm', value);
      await copyHolds('calm', value);
    }
    // A full reconcile compares again and writes nothing.
    await sync.mirrors.get(SHARD)!.reconcile();
    expect({ create: await writes('create'), update: await writes('update') }).toEqual({ create: 1, update: 3 });
    expect(await metric('cluster_bridge_synchronizer_conflicts_total')).toBe(0);
    expect(sync.status().mirrors[0]!.conflicts).toBe(0);
    expect(await conflictEvents('calm')).toEqual([]);
    // Every watch-driven write was timed: the lag histogram has one observation per write.
    expect(await metric('cluster_bridge_synchronizer_lag_seconds_count')).toBe(4);
    expect(sync.status().mirrors[0]!.lag.count).toBe(4);
  }, 60_000);

  it("overwrites a copy changed in the destination with the source's version, counts one conflict and leaves a MirrorConflict Event on it", async () => {
    const owner = (
      await source.expect<Gadget>('POST', gadget(), [201], {
        apiVersion: `${group}/v1`,
        kind: 'Gadget',
        metadata: { name: 'contested' },
        spec: { value: 'v1' },
      })
    ).body;
    await copyHolds('contested', 'v1');
    const before = await metric('cluster_bridge_synchronizer_conflicts_total');
    const updates = await writes('update');

    // Both sides change the object in one window: someone edits the copy, then the owner changes.
    const edited = (await setValue(destination, 'contested', 'edited-in-destination')).body;
    await setValue(source, 'contested', 'v2');
    await copyHolds('contested', 'v2');
    const copy = (await copyOf('contested'))!;
    expect(copy.metadata.uid).toBe(edited.metadata.uid);
    expect(copy.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION]).toBe(owner.metadata.uid);
    expect(await metric('cluster_bridge_synchronizer_conflicts_total')).toBe(before + 1);
    expect(await writes('update')).toBe(updates + 1);
    const event = await theConflictEvent('contested', copy.metadata.uid);
    expect(event.message).toContain('changed in the destination cluster since the synchronizer last wrote it');
    expect(event.message).toContain("overwritten with the source's version");

    // The copy is the synchronizer's again: the owner's next change is no conflict.
    await setValue(source, 'contested', 'v3');
    await copyHolds('contested', 'v3');
    expect(await metric('cluster_bridge_synchronizer_conflicts_total')).toBe(before + 1);

    // An edit of the copy alone is put right by the next full reconcile, and is one more conflict.
    await setValue(destination, 'contested', 'edited-again');
    await sync.mirrors.get(SHARD)!.reconcile();
    expect((await copyOf('contested'))!.spec.value).toBe('v3');
    expect(await metric('cluster_bridge_synchronizer_conflicts_total')).toBe(before + 2);
    expect(sync.status().mirrors[0]!.conflicts).toBe(before + 2);
    await waitUntil('the second conflict Event', async () => (await conflictEvents('contested')).length === 2);

    // bridgectl sync status shows the count.
    const shown = await run(process.execPath, [join(process.cwd(), 'dist', 'cli', 'main.js'), 'sync', 'status', '--url', `http://127.0.0.1:${sync.opsPort}`]);
    expect(shown.stdout).toContain('CONFLICTS');
    expect(shown.stdout).toMatch(new RegExp(`^${SHARD.replace(/\./g, '\\.')}\\s.*\\s${before + 2}\\s+\\d+/\\d+ ms\\s`, 'm'));
  }, 90_000);

  it('counts a copy deleted in the destination as a conflict when it is created again, and reports it on the new copy', async () => {
    await source.expect('POST', gadget(), [201], { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'deleted' }, spec: { value: 'v1' } });
    await copyHolds('deleted', 'v1');
    const first = (await copyOf('deleted'))!;
    const before = await metric('cluster_bridge_synchronizer_conflicts_total');
    const creates = await writes('create');

    // Deleted behind the synchronizer's back: nothing is inferred from the missing copy until the owner's next change.
    await destination.expect('DELETE', gadget('deleted'), [200]);
    await setValue(source, 'deleted', 'v2');
    await copyHolds('deleted', 'v2');
    const again = (await copyOf('deleted'))!;
    expect(again.metadata.uid).not.toBe(first.metadata.uid);
    expect(await writes('create')).toBe(creates + 1);
    expect(await metric('cluster_bridge_synchronizer_conflicts_total')).toBe(before + 1);
    const event = await theConflictEvent('deleted', again.metadata.uid); // on the new copy
    expect(event.message).toContain('was deleted in the destination cluster since the synchronizer last wrote it');
    expect(event.message).toContain("it was created again from the source's version");

    // Deleted again, put back by a full reconcile: one more.
    await destination.expect('DELETE', gadget('deleted'), [200]);
    await sync.mirrors.get(SHARD)!.reconcile();
    expect((await copyOf('deleted'))!.spec.value).toBe('v2');
    expect(await metric('cluster_bridge_synchronizer_conflicts_total')).toBe(before + 2);
    await waitUntil('the second conflict Event', async () => (await conflictEvents('deleted')).length === 2);
  }, 90_000);

  it('judges, after a restart, a copy the first full reconcile found equal by what it held then', async () => {
    await source.expect('POST', gadget(), [201], { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'restarted' }, spec: { value: 'v1' } });
    await copyHolds('restarted', 'v1');
    await sync.close(); // hands the Lease back
    sync = await startSynchronizer(
      { ...loadSyncConfig({ ...(await labSynchronizerEnv('sync-conflicts-e2e', [SHARD])), BRIDGE_LEASE_DURATION_SECONDS: '6' }), leaseName },
      silentLog,
    );
    await waitUntil('the new synchronizer to lead and finish its initial sync', () => sync.status().mirrors[0]?.initialSyncComplete);
    expect(await writes('create')).toBe(0); // every copy was equal: nothing written, nothing remembered from a write

    // Both sides change it: without memory the owner's new version could not be told from the copy's edit.
    await setValue(destination, 'restarted', 'edited-in-destination');
    await setValue(source, 'restarted', 'v2');
    await copyHolds('restarted', 'v2');
    expect(await metric('cluster_bridge_synchronizer_conflicts_total')).toBe(1);
    await waitUntil('the conflict Event', async () => (await conflictEvents('restarted')).length === 1);
  }, 90_000);
});
