// Fault drills (issue 21, item 7) on the lab with the components `bridgectl lab install` runs: a writer
// through the lab's sidecar counts acknowledged ConfigMap writes (503s retried, as client-go does) and a
// reader lists them, while configmaps change owner and (1) the aggregator and the synchronizer are
// killed with SIGKILL mid-hand-off and started again, (2) each kube-apiserver is stopped (SIGSTOP) for
// 10 s. Each drill ends with every acknowledged write at the owner and, after convergence, on the
// replica; no component exited; no client saw a 403 or 404.
// First: this file moves configmaps, and the fence would refuse other suites' writes to the shared lab.
import { stopPrivateLab } from '../helpers/private-lab.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeDesiredOwners } from '../../aggregator/handoff/owner-reconciler.js';
import { readInstalledDaemons } from '../../lab/install.js';
import { readLabState } from '../../lab/lab-files.js';
import { isDaemonAlive } from '../../lab/process.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { ROUTING_TABLE_CONFIGMAP, SYSTEM_NAMESPACE } from '../../lib/names.js';
import { shardState, validateRoutingTable } from '../../lib/routing/routing-table.js';
import type { ClusterSide, ShardState } from '../../lib/routing/types.js';
import { waitUntil } from '../../lib/wait-until.js';
import { BackgroundWriter } from '../helpers/background-writer.js';
import { installedComponent, killComponent, sidecarConfigMapWrites } from '../helpers/lab-components.js';
import { kubeconfigPath, run, uniqueName } from '../helpers/lab-clients.js';

const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');
const NAMESPACE = 'lab-apps';
const SHARD = 'configmaps';
const clients = {} as Record<ClusterSide, KubeRestClient>;
let sidecar: ReturnType<typeof sidecarConfigMapWrites>;

async function configmaps(): Promise<ShardState> {
  const got = await clients.destination.expect<{ data: Record<string, string> }>(
    'GET',
    `/api/v1/namespaces/${SYSTEM_NAMESPACE}/configmaps/${ROUTING_TABLE_CONFIGMAP}`,
    [200],
  );
  return shardState(validateRoutingTable(JSON.parse(got.body.data['table.json']!)), SHARD);
}

async function moveTo(to: ClusterSide): Promise<void> {
  await writeDesiredOwners(clients.destination, { [SHARD]: to });
  await waitUntil(`${SHARD} served by the ${to}`, async () => ((s) => s.owner === to && !s.handoff)(await configmaps()), {
    timeoutMs: 150_000,
    intervalMs: 200,
  });
}

/** Lists through the sidecar until stopped; every answer's status, counted. */
function startReader(): { statuses: Map<number, number>; stop(): Promise<void> } {
  const statuses = new Map<number, number>();
  let stopped = false;
  const running = (async () => {
    while (!stopped) {
      const answer = await sidecar.client
        .request('GET', `/api/v1/namespaces/${NAMESPACE}/configmaps?limit=5`, undefined, { timeoutMs: 120_000 })
        .catch(() => ({ status: 0 }));
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      await sleep(250);
    }
  })();
  return {
    statuses,
    stop: async () => {
      stopped = true;
      await running;
    },
  };
}

/** Each acknowledged write on both clusters (the owner at once, the replica once the mirror caught up); each delete on neither. */
async function expectEveryWriteOnBothSides(writer: BackgroundWriter, prefix: string): Promise<void> {
  const values = async (side: ClusterSide) => {
    const list = await clients[side].expect<{ items: { metadata: { name: string }; data?: { value?: string } }[] }>(
      'GET',
      `/api/v1/namespaces/${NAMESPACE}/configmaps`,
      [200],
    );
    return Object.fromEntries(list.body.items.filter((o) => o.metadata.name.startsWith(`${prefix}-`)).map((o) => [o.metadata.name, o.data?.value]));
  };
  // Acknowledged creates and updates with their values, acknowledged deletes absent (a write answered 502 may or may not have run).
  const expected: Record<string, string | undefined> = Object.fromEntries([...writer.latest, ...[...writer.deleted].map((name) => [name, undefined])]);
  const acknowledged = async (side: ClusterSide) => {
    const held = await values(side);
    return Object.fromEntries(Object.keys(expected).map((name) => [name, held[name]]));
  };
  const owner = (await configmaps()).owner;
  expect(await acknowledged(owner)).toEqual(expected);
  const replica: ClusterSide = owner === 'source' ? 'destination' : 'source';
  await waitUntil(
    `the ${replica} to hold every acknowledged write`,
    async () => JSON.stringify(await values(replica)) === JSON.stringify(await values(owner)),
    {
      timeoutMs: 90_000,
      intervalMs: 1000,
    },
  ).catch(() => undefined);
  expect(await acknowledged(replica)).toEqual(expected);
  expect(writer.deleted.size).toBeGreaterThan(0);
}

async function expectNoComponentExited(): Promise<void> {
  for (const daemon of readInstalledDaemons()) expect([daemon.name, isDaemonAlive(daemon)]).toEqual([daemon.name, true]);
  for (const name of ['aggregator', 'synchronizer']) {
    const metrics = await (await fetch(`http://127.0.0.1:${installedComponent(name).ports[1]}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^cluster_bridge_${name}_unhandled_rejections_total 0$`, 'm'));
  }
}

async function drill(prefix: string, faults: (writer: BackgroundWriter) => Promise<void>): Promise<{ retried: number; statuses: Map<number, number> }> {
  prefix = uniqueName(prefix);
  const writer = new BackgroundWriter(prefix, sidecar.writes, () => true);
  const reader = startReader();
  writer.start();
  try {
    await writer.moreCreates(3);
    await faults(writer);
    await writer.moreCreates(3);
  } finally {
    await writer.stop();
    await reader.stop();
  }
  // A write in flight at a process killed with SIGKILL gets 502 (it may have run; the writer looks and writes again); nothing else.
  expect(writer.errors).toEqual([]);
  // 503s only (retried); never a 403 or 404 for a transient fault. 0: the sidecar itself did not answer.
  expect([...reader.statuses.keys()].filter((status) => status !== 200 && status !== 503)).toEqual([]);
  await expectEveryWriteOnBothSides(writer, prefix);
  await expectNoComponentExited();
  process.stderr.write(`${prefix}: ${writer.created.length} creates, ${writer.retried} 503s retried, reader ${JSON.stringify([...reader.statuses])}\n`);
  return { retried: writer.retried, statuses: reader.statuses };
}

beforeAll(async () => {
  const installed = await run(process.execPath, [CLI, 'lab', 'install', '--replace']);
  if (installed.code !== 0) throw new Error(`lab install failed: ${installed.stderr}`);
  clients.source = KubeRestClient.load(kubeconfigPath('source'));
  clients.destination = KubeRestClient.load(kubeconfigPath('destination'));
  sidecar = sidecarConfigMapWrites(NAMESPACE);
  await moveTo('source');
}, 240_000);

afterAll(async () => {
  sidecar?.client.close();
  for (const client of Object.values(clients)) client.close();
  await stopPrivateLab();
}, 180_000);

// Each drill runs twice in a row (issue 21: the drills pass twice in a row in CI); the second round starts
// from the state the first one left, so a drill that only passes on a fresh install fails there.
describe.each([1, 2])('fault drills, round %i', () => {
  it('kill -9 of the aggregator and the synchronizer mid-hand-off, both started again: the hand-off completes and nothing acknowledged is lost', async () => {
    await drill('drill-kill', async () => {
      // A hold lasts about a second on the lab: watched closely, both are killed while it lasts.
      await writeDesiredOwners(clients.destination, { [SHARD]: 'destination' });
      await waitUntil('the hand-off to hold writes', async () => (await configmaps()).handoff !== undefined, { timeoutMs: 30_000, intervalMs: 10 });
      const [aggregator, synchronizer] = await Promise.all([killComponent('aggregator'), killComponent('synchronizer')]);
      const left = await configmaps();
      process.stderr.write(`drill-kill: killed with ${SHARD} ${left.handoff ? `held (to the ${left.handoff.to})` : `owned by the ${left.owner}`}\n`);
      await sleep(2000);
      aggregator.restart();
      synchronizer.restart();
      await moveTo('destination');
      await moveTo('source');
    });
  }, 300_000);

  it('SIGSTOP of each kube-apiserver for 10 s, with configmaps owned by the destination: every call waits or gets 503, then goes on', async () => {
    await moveTo('destination');
    await drill('drill-stall', async (writer) => {
      for (const cluster of ['source', 'destination'] as const) {
        const pid = readLabState()!.clusters[cluster].daemons.find((d) => d.name === 'kube-apiserver')!.pid;
        process.kill(pid, 'SIGSTOP');
        try {
          await sleep(10_000);
        } finally {
          process.kill(pid, 'SIGCONT');
        }
        await writer.moreCreates(2);
      }
    });
    await moveTo('source');
  }, 300_000);
});
