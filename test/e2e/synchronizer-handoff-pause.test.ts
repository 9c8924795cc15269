/**
 * The synchronizer's side of a hand-off, against real clusters: once the aggregator's catch-up
 * question is answered, the old owner's mirror copies nothing more until the routing table shows the
 * hand-off ended (DESIGN.md section 3). Before, it ran until the synchronizer saw the new table, and
 * copied the aggregator's first source-first creates to the destination, whose own create of them then
 * found their nodePorts taken. An aborted hand-off resumes the mirror in the same direction and loses
 * nothing; a completed one turns it around. A lab of its own: the test writes the routing table.
 */
// First: a lab of its own (private-lab.ts), before any module reads a kubeconfig.
import '../helpers/private-lab.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { CatchUpStatus } from '../../lib/mirror/catchup.js';
import { CatchUpClient } from '../../lib/mirror/catchup-client.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { ConfigMapRoutingStore } from '../../lib/routing/configmap-store.js';
import { abortHandoff, beginHandoff, completeHandoff, shardState } from '../../lib/routing/routing-table.js';
import type { ClusterSide } from '../../lib/routing/types.js';
import { waitUntil } from '../../lib/wait-until.js';
import { currentRevision, type ClusterConnection } from '../../lib/kube/cluster-connection.js';
import { loadSyncConfig } from '../../synchronizer/config.js';
import { startSynchronizer, type RunningSynchronizer } from '../../synchronizer/server.js';
import { createNamespace, uniqueName } from '../helpers/lab-clients.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';
import { synchronizerTestbed, type SynchronizerTestbed } from '../helpers/synchronizer-testbed.js';

const SHARD = 'configmaps';
/** Long enough for the old mirror to have copied an object many times over (it takes milliseconds). */
const WOULD_HAVE_COPIED_MS = 3000;

let bed: SynchronizerTestbed;
let source: KubeRestClient;
let destination: KubeRestClient;
let connections: Record<ClusterSide, ClusterConnection>;
let sync: RunningSynchronizer;
/** Starts the synchronizer (again: the same Lease, which the last one released) and waits for its first sync. */
let startSync: () => Promise<void>;
let catchUp: CatchUpClient;
let store: ConfigMapRoutingStore;
let namespace: string;
const client = (side: ClusterSide) => (side === 'source' ? source : destination);
const mirror = () => sync.mirrors.get(SHARD);
const path = (name = '') => `/api/v1/namespaces/${namespace}/configmaps${name ? `/${name}` : ''}`;
const exists = async (side: ClusterSide, name: string) => (await client(side).request('GET', path(name))).status === 200;
const create = (side: ClusterSide, name: string) => client(side).expect('POST', path(), [201], { metadata: { name }, data: { made: side } });
// This shard's only: the cluster RBAC mirrors (docs/adr/0013) write source->destination too.
const writesBy = async (direction: string) =>
  (await sync.writes.get()).values.filter((v) => v.labels.direction === direction && v.labels.shard === SHARD).reduce((n, v) => n + v.value, 0);

async function hold(to: ClusterSide): Promise<void> {
  const { table, version } = await store.load();
  await store.replace(beginHandoff(table, SHARD, to, new Date()), version);
}

/** The aggregator's catch-up question, with the old owner's revision (writes held). */
async function askCatchUp(): Promise<CatchUpStatus> {
  const from = shardState((await store.load()).table, SHARD).owner;
  return catchUp.waitFor({ shard: SHARD, from, rv: await currentRevision(connections[from]!) }, 30_000);
}

/** The aggregator's first steps of a hand-off: the hold persisted, then its catch-up question answered. */
async function holdAndCatchUp(to: ClusterSide): Promise<void> {
  await hold(to);
  expect((await askCatchUp()).caughtUp).toBe(true);
}

const REFUSING_POLICY = 'e2e-sync-handoff-refuses';
/** A destination policy that refuses ConfigMaps labelled e2e-refuse, as a quota or a policy of the destination may. */
async function refuseLabelledConfigMaps(on: boolean): Promise<void> {
  const base = '/apis/admissionregistration.k8s.io/v1';
  if (on) {
    await destination.expect('POST', `${base}/validatingadmissionpolicies`, [201], {
      metadata: { name: REFUSING_POLICY },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['configmaps'] }] },
        validations: [
          { expression: "!has(object.metadata.labels) || !('e2e-refuse' in object.metadata.labels)", message: 'e2e policy refuses this ConfigMap' },
        ],
      },
    });
    await destination.expect('POST', `${base}/validatingadmissionpolicybindings`, [201], {
      metadata: { name: REFUSING_POLICY },
      spec: { policyName: REFUSING_POLICY, validationActions: ['Deny'] },
    });
  } else {
    await destination.expect('DELETE', `${base}/validatingadmissionpolicybindings/${REFUSING_POLICY}`, [200]);
    await destination.expect('DELETE', `${base}/validatingadmissionpolicies/${REFUSING_POLICY}`, [200]);
  }
  const probe = { metadata: { name: 'probe', labels: { 'e2e-refuse': 'yes' } } };
  await waitUntil(`the destination to ${on ? 'enforce' : 'drop'} the policy`, async () => {
    const dryRun = await destination.request('POST', `${path()}?dryRun=All`, probe);
    return (dryRun.status === 201) !== on;
  });
}

async function endHandoff(how: 'abort' | 'complete'): Promise<void> {
  const { table, version } = await store.load();
  const from = shardState(table, SHARD).owner;
  const rv = await currentRevision(connections[from]!);
  await store.replace(how === 'abort' ? abortHandoff(table, SHARD) : completeHandoff(table, SHARD, rv, new Date()), version);
}

beforeAll(async () => {
  bed = await synchronizerTestbed('sync-handoff', [SHARD], { BRIDGE_LEASE_DURATION_SECONDS: '6' });
  ({ source, destination, connections, store } = bed);
  const leaseName = uniqueName('sync-handoff');
  startSync = async () => {
    sync = await startSynchronizer({ ...loadSyncConfig(bed.env), leaseName }, silentLog);
    await waitUntil('the synchronizer to lead and sync', () => mirror()?.progress().initialSyncComplete);
  };
  await startSync();
  catchUp = bed.catchUpClient(sync.port);
  namespace = await createNamespace('source', 'sync-handoff');
}, 120_000);

afterAll(() => bed?.close(sync), 120_000);

describe('a hand-off pauses the old owner mirror from its catch-up to its end', () => {
  it('is not caught up, and does not pause, while the destination refuses an object of the shard; it is once the destination takes it', async () => {
    await destination.expect('POST', '/api/v1/namespaces', [201, 409], { metadata: { name: namespace } });
    await refuseLabelledConfigMaps(true);
    try {
      await source.expect('POST', path(), [201], { metadata: { name: 'refused', labels: { 'e2e-refuse': 'yes' } } });
      await waitUntil('the mirror to report the refused ConfigMap', () => mirror()!.failingObjects.includes(`${namespace}/refused`));
      await hold('destination');
      await expect(askCatchUp()).rejects.toMatchObject({
        code: 'BRIDGE_ERR_HANDOFF_TIMEOUT',
        message: expect.stringMatching(
          /1 object\(s\) of the source cannot be written to the other side \(.*\/refused among them; the last error: .*e2e policy refuses/,
        ),
      });
      expect(mirror()!.paused).toBe(false);
    } finally {
      await refuseLabelledConfigMaps(false);
    }
    // Taken now: the catch-up's reconcile writes it, and the hand-off may go on (aborted here, to start the next test from the source).
    expect((await askCatchUp()).caughtUp).toBe(true);
    expect(await exists('destination', 'refused')).toBe(true);
    await endHandoff('abort');
    await waitUntil('the mirror to resume', () => mirror()?.progress().phase === 'watching');
  });

  it('copies nothing after the catch-up, resumes when the hand-off is aborted, and turns around when it completes', async () => {
    await create('source', 'before');
    await waitUntil('the first ConfigMap mirrored', () => exists('destination', 'before'));

    await holdAndCatchUp('destination');
    expect([mirror()!.direction, mirror()!.paused]).toEqual(['source->destination', true]);
    // A source write after the catch-up, as the aggregator's source-first create makes once writes are released.
    const copiesBefore = await writesBy('source->destination');
    await create('source', 'after-catch-up');
    await new Promise((resolve) => setTimeout(resolve, WOULD_HAVE_COPIED_MS));
    expect(await exists('destination', 'after-catch-up')).toBe(false);
    expect(await writesBy('source->destination')).toBe(copiesBefore);

    // Aborted: the source keeps the shard, and the resumed mirror copies what it held back.
    await endHandoff('abort');
    await waitUntil('the resumed mirror to copy the held-back ConfigMap', () => exists('destination', 'after-catch-up'));
    await waitUntil('the resumed mirror to watch the source again', () => {
      const progress = mirror()?.progress();
      return progress?.direction === 'source->destination' && progress.phase === 'watching';
    });

    // Completed: paused at the catch-up again, then turned around by the new table.
    await holdAndCatchUp('destination');
    expect(mirror()!.paused).toBe(true);
    await endHandoff('complete');
    await waitUntil('the mirror to run from the destination', () => {
      const progress = mirror()?.progress();
      return progress?.direction === 'destination->source' && progress.phase === 'watching';
    });
    await create('destination', 'after-move');
    await waitUntil('a destination create mirrored to the source', () => exists('source', 'after-move'));
    for (const name of ['before', 'after-catch-up', 'after-move']) {
      expect([name, await exists('source', name), await exists('destination', name)]).toEqual([name, true, true]);
    }
  });
  it('a restarted synchronizer still deletes a source original the destination deleted after taking the shard over, and keeps a newer one', async () => {
    // The destination owns configmaps since the last test. While no synchronizer runs, the destination deletes
    // `before` (a source original unchanged since the hand-off), and the source gets `newer` (changed since).
    expect(shardState((await store.load()).table, SHARD).owner).toBe('destination');
    await sync.close();
    await destination.expect('DELETE', path('before'), [200]);
    await create('source', 'newer');
    await startSync();
    expect(mirror()!.direction).toBe('destination->source');
    expect([await exists('source', 'before'), await exists('source', 'newer')]).toEqual([false, true]);
  });
});
