/**
 * Cross-cloud benchmark (not a test): how many times a pod's API call crosses clouds, in every state
 * of a migration (DESIGN.md section 3, "Local routing"; issue 20). The lab's aggregator stands in the
 * destination's cloud behind a delay proxy on loopback (bench/delay-proxy.ts, 50 ms each way); a
 * sidecar with local routing (as the image runs it, with the lab sidecar's certificates) reaches the
 * aggregator only through it. Each call is made alone, and its crossings are the sidecar's attempts
 * through the aggregator during it (its `requests_total` routed upstream; a fenced retry is a second
 * crossing); the latency shows the same (a crossing costs 100 ms). Expected: source-owned 0,
 * destination-owned 1, before any move, during a rollout and after a rollback.
 * The rollout is a BridgeRollout (stages 50% and 100%, shadow reads off: a shadowed read goes to the
 * aggregator by design, docs/adr/0011) driven by the aggregator's controller: advance, then rollback.
 * Needs `bridgectl lab up` and `bridgectl lab install`; leaves the rollout rolled back.
 *
 *   npm run bench:cross-cloud
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { ROLLOUTS_PATH, type BridgeRollout, type RolloutSpec } from '../aggregator/rollout/rollout-types.js';
import { applyPlan, sendRolloutCommand } from '../cli/rollout-commands.js';
import { LAB_APPS_NAMESPACE } from '../lab/install-context.js';
import { kubeconfigPath, requireLab } from '../lab/lab-files.js';
import { BridgeError } from '../lib/errors.js';
import { KubeRestClient } from '../lib/kube/rest-client.js';
import { labDir } from '../lib/process/paths.js';
import { ConfigMapRoutingStore } from '../lib/routing/configmap-store.js';
import type { RoutingTable, ShardKey } from '../lib/routing/types.js';
import { waitUntil } from '../lib/wait-until.js';
import { startDelayProxy } from './delay-proxy.js';
import { choices, installed, startBenchSidecar, workloadCredentials } from './lab-bridge.js';
import { fmt, percentile } from './stats.js';

const DELAY_MS = 50;
const CALLS = 5;
const ROLLOUT = 'bench-cross-cloud';
const PLAN: RolloutSpec = {
  stages: [
    { name: '50%', fraction: 0.5 },
    { name: '100%', fraction: 1 },
  ],
  soakSeconds: 3600, // each stage holds until the bench advances it
  onBreach: 'Pause',
  gates: { shadowReadShare: 0 },
};
const NS = `/namespaces/${LAB_APPS_NAMESPACE}`;

/** One kind of call: its shard (undefined: located, served by the source in every state) and how to make it. */
interface Operation {
  name: string;
  shard: ShardKey | undefined;
  calls: Array<{ method: string; path: (i: number) => string; body?: (i: number) => unknown }>;
}

const list = (shard: ShardKey, path: string): Operation => ({ name: `${shard} list`, shard, calls: [{ method: 'GET', path: () => `${path}?limit=1` }] });

/** A create and a delete of one object (two calls). */
function write(shard: ShardKey, path: string, object: (name: string) => unknown): Operation {
  const name = (i: number) => `bench-cross-cloud-${process.pid}-${i}`;
  return {
    name: `${shard} create+delete`,
    shard,
    calls: [
      { method: 'POST', path: () => path, body: (i) => object(name(i)) },
      { method: 'DELETE', path: (i) => `${path}/${name(i)}` },
    ],
  };
}

const OPERATIONS: Operation[] = [
  list('configmaps', `/api/v1${NS}/configmaps`),
  list('secrets', `/api/v1${NS}/secrets`),
  list('services', `/api/v1${NS}/services`),
  list('serviceaccounts', `/api/v1${NS}/serviceaccounts`),
  list('leases.coordination.k8s.io', `/apis/coordination.k8s.io/v1${NS}/leases`),
  { name: 'pods list (located)', shard: undefined, calls: [{ method: 'GET', path: () => `/api/v1${NS}/pods?limit=1` }] },
  write('configmaps', `/api/v1${NS}/configmaps`, (name) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { k: 'v' } })),
  write('secrets', `/api/v1${NS}/secrets`, (name) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: { k: 'v' } })),
  write('leases.coordination.k8s.io', `/apis/coordination.k8s.io/v1${NS}/leases`, (name) => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name },
    spec: { holderIdentity: 'bench' },
  })),
];

interface Row {
  state: string;
  operation: string;
  owner: string;
  calls: number;
  crossings: number;
  statuses: Set<number>;
  latencies: number[];
}

/** The sidecar's metrics: attempts it routed through the aggregator (each one a crossing) and its table's generation. */
async function sidecarNumbers(opsPort: number): Promise<{ upstreamAttempts: number; generation: number }> {
  const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
  let upstreamAttempts = 0;
  for (const m of text.matchAll(/^cluster_bridge_sidecar_requests_total\{reason="([\w-]+)",upgrade="\w+"\} (\d+)$/gm))
    if (m[1] === 'selected-upstream' || m[1] === 'local-connect-failed-fallback-upstream') upstreamAttempts += Number(m[2]);
  const generation = Number(/^cluster_bridge_sidecar_routing_table_generation (\d+)$/m.exec(text)?.[1] ?? NaN);
  return { upstreamAttempts, generation };
}

function owner(table: RoutingTable, shard: ShardKey | undefined): string {
  if (!shard) return 'source (located)';
  const state = table.shards[shard];
  if (!state) return 'source, epoch 0';
  return `${state.owner}, epoch ${state.epochs.length - 1}${state.handoff ? ' (hand-off)' : ''}`;
}

async function main(): Promise<void> {
  const lab = requireLab();
  const aggregator = installed('aggregator');
  installed('sidecar');
  const { token, caPem } = workloadCredentials();
  const destination = KubeRestClient.load(kubeconfigPath('destination'));
  const store = new ConfigMapRoutingStore(destination, pino({ level: 'silent' }));
  const link = await startDelayProxy({ host: '127.0.0.1', port: aggregator.port }, DELAY_MS);
  const sidecarDir = join(labDir(), 'install', 'sidecar');
  let child: ChildProcess | undefined;
  const agent = new Agent({ keepAlive: true, ca: caPem });
  const out = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const sidecar = await startBenchSidecar(
      {
        BRIDGE_UPSTREAM: `https://127.0.0.1:${link.port}`,
        BRIDGE_LOCAL_APISERVER: new URL(lab.clusters.source.server).host,
        BRIDGE_LOCAL_CA_FILE: join(sidecarDir, 'cluster-ca.crt'),
        BRIDGE_TLS_DIR: join(sidecarDir, 'tls'),
      },
      true,
    );
    child = sidecar.child;
    const call = (method: string, path: string, body?: unknown) =>
      new Promise<number>((resolve, reject) => {
        const text = body === undefined ? undefined : JSON.stringify(body);
        const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
        if (text) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
        const req = request({ host: '127.0.0.1', port: sidecar.port, method, path, agent, headers }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end(text);
      });

    const rows: Row[] = [];
    const measure = async (state: string) => {
      const { table } = await store.load();
      await waitUntil('the bench sidecar to route by the current table', async () =>
        (await sidecarNumbers(sidecar.opsPort)).generation === table.generation ? true : undefined,
      );
      for (const operation of OPERATIONS) {
        const row: Row = { state, operation: operation.name, owner: owner(table, operation.shard), calls: 0, crossings: 0, statuses: new Set(), latencies: [] };
        for (let i = 0; i < CALLS; i++) {
          for (const c of operation.calls) {
            const before = (await sidecarNumbers(sidecar.opsPort)).upstreamAttempts;
            const started = performance.now();
            row.statuses.add(await call(c.method, c.path(i), c.body?.(i)));
            row.latencies.push(performance.now() - started);
            row.crossings += (await sidecarNumbers(sidecar.opsPort)).upstreamAttempts - before;
            row.calls++;
          }
        }
        rows.push(row);
      }
    };
    const rollout = () => destination.expect<BridgeRollout>('GET', `${ROLLOUTS_PATH}/${ROLLOUT}`, [200]).then((r) => r.body);
    const until = async (what: string, done: (r: BridgeRollout) => boolean) => {
      await waitUntil(what, async () => (done(await rollout()) ? true : undefined), { timeoutMs: 300_000, intervalMs: 300 });
      await sleep(200);
    };
    const reached = (stage: string) => (r: BridgeRollout) =>
      (r.status?.history ?? []).some((h) => h.event === 'stage-reached' && h.stage === stage) && r.status?.stageName === stage;

    const before = await store.load();
    const neverMoved = Object.values(before.table.shards).every((s) => s.epochs.length === 1);
    await measure(neverMoved ? 'before any move' : 'before (shards moved in earlier runs)');
    await applyPlan(destination, ROLLOUT, PLAN, { replace: true });
    await until('the rollout to reach 50%', reached('50%'));
    await measure('rollout at 50%');
    await sendRolloutCommand(destination, ROLLOUT, 'advance', 60);
    await until('the rollout to reach 100%', reached('100%'));
    await measure('rollout at 100%');
    await sendRolloutCommand(destination, ROLLOUT, 'rollback', 60);
    await until('the rollout to roll back', (r) => r.status?.phase === 'RolledBack');
    await measure('after the rollback');

    const loadAverage = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    out(`cross-cloud benchmark: a delay proxy of ${DELAY_MS} ms each way before the aggregator; ${CALLS} rounds per operation, each call alone`);
    out(`(kube-apiserver ${lab.kubernetesVersion}; load average ${loadAverage}; crossings = the sidecar's attempts through the aggregator)\n`);
    out(`${'state'.padEnd(38)} ${'operation'.padEnd(40)} ${'owner'.padEnd(26)} calls  crossings/call  p50 ms   statuses`);
    for (const r of rows) {
      out(
        `${r.state.padEnd(38)} ${r.operation.padEnd(40)} ${r.owner.padEnd(26)} ${String(r.calls).padStart(5)}  ${fmt(r.crossings / r.calls).padStart(14)}  ${fmt(percentile(r.latencies, 50), 1).padStart(6)}   ${[...r.statuses].join(',')}`,
      );
    }
    out('\nper state: crossings per call, source-owned (located included) / destination-owned');
    for (const state of [...new Set(rows.map((r) => r.state))]) {
      const per = (side: string) => {
        const mine = rows.filter((r) => r.state === state && r.owner.startsWith(side));
        const calls = mine.reduce((n, r) => n + r.calls, 0);
        return calls ? `${fmt(mine.reduce((n, r) => n + r.crossings, 0) / calls)} over ${calls} calls` : '-';
      };
      out(`  ${state.padEnd(38)} source-owned ${per('source')}; destination-owned ${per('destination')}`);
    }
    out(`\nthe sidecar's choices (upstream/reason: requests): ${JSON.stringify(await choices(sidecar.opsPort))}`);
    out(`connections through the delay proxy: ${link.connections}`);
  } finally {
    child?.kill('SIGTERM');
    agent.destroy();
    await link.close();
    destination.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof BridgeError ? err.message : String(err)}\n`);
  process.exit(1);
});
