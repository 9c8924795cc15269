/**
 * The migration part of `bridgectl demo`: workloads keep calling the API through the lab's sidecar
 * (a client-node writer and reader, python3-kubernetes writing Secrets, kubectl in a loop) while the
 * mirrored shards move to the destination in canary stages (F = 1%, 5%, 25%, 50%, 100%, each shard's
 * owner decided by the fixed hash) and back (a rollback to F = 0). The closing report counts calls,
 * errors, objects per cluster, time per stage, write pauses per hand-off and lost writes (must be 0).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import { LAB_APPS_NAMESPACE } from '../lab/install-context.js';
import { kubeconfigPath } from '../lab/lab-files.js';
import type { DaemonRecord } from '../lab/process.js';
import { errorMessage } from '../lib/errors.js';
import { KubeRestClient } from '../lib/kube-rest-client.js';
import { labDir } from '../lib/paths.js';
import { shardState } from '../lib/routing/routing-table.js';
import { desiredOwner, shardPosition } from '../lib/routing/shard-hash.js';
import type { ClusterSide, PlanStage, RoutingTable } from '../lib/routing/types.js';
import { DEFAULT_SHARDS } from '../lib/routing/resource-classes.js';
import { writeDesiredOwners } from '../aggregator/owner-reconciler.js';
import { readRoutingTable } from './aggregator-commands.js';
import { say } from './command.js';

export const DEMO_STAGES: PlanStage[] = [0.01, 0.05, 0.25, 0.5, 1].map((fraction) => ({ name: `${fraction * 100}%`, shards: ['*'], fraction }));
const ROLLBACK: PlanStage = { name: 'rollback to 0%', shards: ['*'], fraction: 0 };
const STAGE_TIMEOUT_MS = 120_000;
const SOAK_MS = 1500;

/** Each run's objects carry its id, so a second demo on the same lab starts clean. */
const RUN = randomBytes(3).toString('hex');
const RUN_SELECTOR = `app=demo,run=${RUN}`;

interface Tally {
  calls: number;
  errors: string[];
  /** Names of objects whose create was acknowledged (2xx). */
  written: Set<string>;
}

/** Writes and reads ConfigMaps through the sidecar as a client-node controller would, until stopped. */
async function clientNodeWorkload(kubeconfig: string, tally: Tally, stop: () => boolean): Promise<void> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const api = kc.makeApiClient(k8s.CoreV1Api);
  for (let i = 0; !stop(); i++) {
    const name = `demo-${RUN}-cm-${i}`;
    tally.calls += 2;
    try {
      await api.createNamespacedConfigMap({
        namespace: LAB_APPS_NAMESPACE,
        body: { metadata: { name, labels: { app: 'demo', run: RUN } }, data: { i: String(i) } },
      });
      tally.written.add(`configmap/${name}`);
      await api.listNamespacedConfigMap({ namespace: LAB_APPS_NAMESPACE, labelSelector: RUN_SELECTOR, limit: 50 });
    } catch (err) {
      // A hand-off answers 503 + Retry-After; client-node does not retry writes, a controller would.
      const code = (err as { code?: number }).code;
      if (code === 503) {
        tally.calls--;
        await sleep(300);
      } else tally.errors.push(`client-node ${name}: ${errorMessage(err).split('\n')[0]}`);
    }
    await sleep(100);
  }
}

/** python3-kubernetes creating Secrets through the sidecar; prints one line per acknowledged write. */
function pythonWorkload(kubeconfig: string, tally: Tally): ChildProcess {
  const script = `
import sys, time
from kubernetes import client, config
from kubernetes.client.rest import ApiException
api = client.CoreV1Api(config.new_client_from_config(config_file=sys.argv[1]))
i = 0
while True:
    name = "demo-%s-secret-%d" % (sys.argv[3], i)
    try:
        api.create_namespaced_secret(sys.argv[2], client.V1Secret(metadata=client.V1ObjectMeta(name=name, labels={"app": "demo", "run": sys.argv[3]}), string_data={"i": str(i)}))
        print("ok " + name, flush=True)
        i += 1
    except ApiException as e:
        if e.status == 503:
            time.sleep(0.3)
            continue
        print("error %s %s %s" % (name, e.status, e.reason), flush=True)
        i += 1
    time.sleep(0.15)
`;
  const child = spawn('/usr/bin/python3', ['-c', script, kubeconfig, LAB_APPS_NAMESPACE, RUN], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    for (const line of chunk.split('\n').filter(Boolean)) {
      tally.calls++;
      if (line.startsWith('ok ')) tally.written.add(`secret/${line.slice(3)}`);
      else tally.errors.push(`python3-kubernetes: ${line}`);
    }
  });
  return child;
}

/** kubectl reading through the sidecar in a loop, as a CI job would. */
async function kubectlWorkload(kubeconfig: string, tally: Tally, stop: () => boolean): Promise<void> {
  while (!stop()) {
    tally.calls++;
    const code = await new Promise<number>((resolve) => {
      const child = spawn('kubectl', ['--kubeconfig', kubeconfig, '-n', LAB_APPS_NAMESPACE, 'get', 'configmaps,secrets', '-l', RUN_SELECTOR, '-o', 'name'], {
        stdio: 'ignore',
      });
      child.on('close', (c) => resolve(c ?? 1));
      child.on('error', () => resolve(1));
    });
    if (code !== 0) tally.errors.push('kubectl get configmaps,secrets failed');
    await sleep(400);
  }
}

async function waitForOwners(destination: KubeRestClient, wanted: Record<string, ClusterSide>): Promise<RoutingTable> {
  const deadline = Date.now() + STAGE_TIMEOUT_MS;
  for (;;) {
    const table = await readRoutingTable(destination);
    if (Object.entries(wanted).every(([shard, owner]) => shardState(table, shard).owner === owner && !shardState(table, shard).handoff)) return table;
    if (Date.now() > deadline) throw new Error(`owners not reached within ${STAGE_TIMEOUT_MS / 1000} s: ${JSON.stringify(wanted)}`);
    await sleep(200);
  }
}

async function heldWrites(aggregatorOpsPort: number): Promise<{ count: number; sumSeconds: number }> {
  const text = await fetch(`http://127.0.0.1:${aggregatorOpsPort}/metrics`).then((r) => r.text());
  const value = (name: string) => Number(/\s([\d.e+-]+)$/.exec(text.split('\n').find((l) => l.startsWith(name)) ?? ' 0')?.[1] ?? 0);
  return {
    count: value('cluster_bridge_aggregator_handoff_seconds_count{phase="writes-held",outcome="completed"}'),
    sumSeconds: value('cluster_bridge_aggregator_handoff_seconds_sum{phase="writes-held",outcome="completed"}'),
  };
}

async function objectsIn(cluster: KubeRestClient, kind: 'configmaps' | 'secrets'): Promise<Set<string>> {
  const list = await cluster.expect<{ items: { metadata: { name: string } }[] }>(
    'GET',
    `/api/v1/namespaces/${LAB_APPS_NAMESPACE}/${kind}?labelSelector=${encodeURIComponent(RUN_SELECTOR)}`,
    [200],
  );
  return new Set(list.body.items.map((i) => `${kind.slice(0, -1)}/${i.metadata.name}`));
}

/** Runs the staged migration and its rollback; returns false if any acknowledged write was lost or a client saw an error. */
export async function runMigration(daemons: DaemonRecord[]): Promise<boolean> {
  const workloadKubeconfig = join(labDir(), 'workload.kubeconfig');
  const destination = KubeRestClient.load(kubeconfigPath('destination'));
  const source = KubeRestClient.load(kubeconfigPath('source'));
  const aggregatorOps = daemons.find((d) => d.name === 'aggregator')?.ports[1];
  const tally: Tally = { calls: 0, errors: [], written: new Set() };
  let stopped = false;
  const stop = () => stopped;
  const workloads = [clientNodeWorkload(workloadKubeconfig, tally, stop), kubectlWorkload(workloadKubeconfig, tally, stop)];
  const python = pythonWorkload(workloadKubeconfig, tally);
  const stageTimes: string[] = [];
  try {
    say(`   shards and their fixed positions: ${DEFAULT_SHARDS.map((s) => `${s} ${shardPosition(s).toFixed(3)}`).join(', ')}`);
    for (const stage of [...DEMO_STAGES, ROLLBACK]) {
      const started = Date.now();
      const wanted = Object.fromEntries(DEFAULT_SHARDS.map((shard) => [shard, desiredOwner(shard, stage)]));
      await writeDesiredOwners(destination, wanted);
      await waitForOwners(destination, wanted);
      await sleep(SOAK_MS);
      const moved = Object.values(wanted).filter((o) => o === 'destination').length;
      const line = `F=${stage.name.padEnd(15)} ${'#'.repeat(moved).padEnd(DEFAULT_SHARDS.length, '.')} ${moved}/${DEFAULT_SHARDS.length} shards in the destination, ${((Date.now() - started) / 1000).toFixed(1)} s, calls ${tally.calls}, errors ${tally.errors.length}`;
      stageTimes.push(line);
      say(`   ${line}`);
    }
  } finally {
    stopped = true;
    python.kill();
    await Promise.all(workloads);
  }
  // Let the last writes reach the other side, then count: every acknowledged write in both clusters.
  await sleep(2000);
  const inSource = new Set([...(await objectsIn(source, 'configmaps')), ...(await objectsIn(source, 'secrets'))]);
  const inDestination = new Set([...(await objectsIn(destination, 'configmaps')), ...(await objectsIn(destination, 'secrets'))]);
  const lost = [...tally.written].filter((name) => !inSource.has(name) || !inDestination.has(name));
  const pauses = aggregatorOps ? await heldWrites(aggregatorOps) : { count: 0, sumSeconds: 0 };
  source.close();
  destination.close();
  say('== report');
  say(`   calls made by the workloads: ${tally.calls}; errors a single cluster would not give: ${tally.errors.length}`);
  for (const error of tally.errors.slice(0, 5)) say(`     ${error}`);
  say(`   acknowledged writes: ${tally.written.size}; objects in source ${inSource.size}, in destination ${inDestination.size}; lost writes: ${lost.length}`);
  if (pauses.count > 0) say(`   hand-offs: ${pauses.count}, writes held ${((pauses.sumSeconds / pauses.count) * 1000).toFixed(0)} ms on average`);
  return lost.length === 0 && tally.errors.length === 0;
}
