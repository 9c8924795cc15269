/**
 * Synchronizer benchmark (not a test), on the lab's two clusters (`bridgectl lab up`, no installed
 * synchronizer), two parts in one run:
 *   initial sync   5,000 mixed objects (ConfigMaps, Secrets, headless Services, ServiceAccounts, Roles,
 *                  RoleBindings) made in a fresh source namespace, then a synchronizer process started
 *                  against an empty destination: seconds until every shard finished its first full
 *                  reconcile. Beside it, the floor: `kubectl apply --server-side` of the same objects into
 *                  an empty destination namespace. Printed: both rates and their ratio.
 *   steady lag     50 ConfigMap changes/s in the source for 20 s: owner write acknowledged -> the copy's
 *                  change seen by a watch on the destination (end to end), and the synchronizer's own
 *                  histogram (its watch saw the change -> its write acknowledged), p50/p99.
 * A second peer in the same run: plain creates of the same objects, RECONCILE_CONCURRENCY at a time (the
 * destination's own write rate; kubectl applies one object at a time and spends most of its time in itself).
 * Services are headless: the kubectl floor's Services would get ClusterIPs of their own from the same
 * range as the source's, and the copies (which keep the source's) could collide with them.
 *
 *   npm run bench:synchronizer
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { readInstalledDaemons } from '../lab/install.js';
import { kubeconfigPath, requireLab } from '../lab/lab-files.js';
import { labSynchronizerEnv } from '../lab/local-synchronizer.js';
import { isDaemonAlive } from '../lab/process.js';
import { BridgeError } from '../lib/errors.js';
import { KubeRestClient } from '../lib/kube/rest-client.js';
import { MIRROR_OF_RV_ANNOTATION, SYSTEM_NAMESPACE } from '../lib/names.js';
import { freePort } from '../lab/ports.js';
import { waitUntil } from '../lib/wait-until.js';
import type { SyncStatus } from '../synchronizer/server.js';
import { forEachLimited, RECONCILE_CONCURRENCY } from '../synchronizer/write-order.js';
import { fmt, percentile } from './stats.js';

const OBJECTS = 5000;
const SHARDS = ['configmaps', 'secrets', 'services', 'serviceaccounts', 'roles.rbac.authorization.k8s.io', 'rolebindings.rbac.authorization.k8s.io'];
const CHANGES_PER_SECOND = 50;
const LAG_SECONDS = 20;
const out = (line: string) => process.stdout.write(`${line}\n`);
const id = Math.random().toString(16).slice(2, 8);

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };
const RBAC = 'rbac.authorization.k8s.io';
const collection = (o: Obj, ns: string) =>
  o.apiVersion === 'v1' ? `/api/v1/namespaces/${ns}/${o.kind.toLowerCase()}s` : `/apis/${o.apiVersion}/namespaces/${ns}/${o.kind.toLowerCase()}s`;

/** The mix: a share of each default kind, each object small and realistic. */
function objects(): Obj[] {
  const kinds: [number, (i: number) => Obj][] = [
    [0.3, (i) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}` }, data: { index: String(i), text: 'x'.repeat(200) } })],
    [0.2, (i) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `secret-${i}` }, type: 'Opaque', stringData: { password: `p-${i}` } })],
    [
      0.1,
      (i) => ({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: `svc-${i}` },
        spec: { clusterIP: 'None', selector: { app: `a-${i}` }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
      }),
    ],
    [0.14, (i) => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: `sa-${i}` } })],
    [
      0.13,
      (i) => ({
        apiVersion: `${RBAC}/v1`,
        kind: 'Role',
        metadata: { name: `role-${i}` },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
      }),
    ],
    [
      0.13,
      (i) => ({
        apiVersion: `${RBAC}/v1`,
        kind: 'RoleBinding',
        metadata: { name: `rb-${i}` },
        roleRef: { apiGroup: RBAC, kind: 'Role', name: `role-${i}` },
        subjects: [{ kind: 'ServiceAccount', name: `sa-${i}` }],
      }),
    ],
  ];
  const all: Obj[] = [];
  for (const [share, make] of kinds) for (let i = 0; i < Math.round(share * OBJECTS); i++) all.push(make(i));
  return all.slice(0, OBJECTS);
}

/** Plain creates of `items` into a new namespace `ns`, `atOnce` at a time. */
async function createAll(client: KubeRestClient, ns: string, items: Obj[], atOnce: number): Promise<void> {
  await client.expect('POST', '/api/v1/namespaces', [201], { metadata: { name: ns } });
  await forEachLimited(
    items,
    atOnce,
    async (o) => void (await client.expect('POST', collection(o, ns), [201], { ...o, metadata: { ...o.metadata, namespace: ns } })),
  );
}

function runKubectl(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('kubectl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`kubectl exited ${code}: ${stderr.slice(-300)}`))));
  });
}

/** The synchronizer as its own process (as deployed), under a Lease of its own; `env` from labSynchronizerEnv. */
function startSynchronizer(synchronizerEnv: Record<string, string>, leaseName: string): ChildProcess {
  const dist = (file: string) => JSON.stringify(join(process.cwd(), 'dist', file));
  const script =
    `const { startSynchronizer } = await import(${dist('synchronizer/server.js')}); const { loadSyncConfig } = await import(${dist('synchronizer/config.js')});` +
    `const { createLogger } = await import(${dist('lib/process/logger.js')});` +
    `await startSynchronizer({ ...loadSyncConfig(process.env), leaseName: process.env.BENCH_LEASE }, createLogger('bench-sync'));`;
  const env = { ...process.env, ...synchronizerEnv, BRIDGE_LOG_LEVEL: 'error', BENCH_LEASE: leaseName };
  return spawn(process.execPath, ['--input-type=module', '-e', script], { env, stdio: 'ignore' });
}

async function syncStatus(opsPort: number): Promise<SyncStatus | undefined> {
  return fetch(`http://127.0.0.1:${opsPort}/status`)
    .then(async (r) => (r.ok ? ((await r.json()) as SyncStatus) : undefined))
    .catch(() => undefined);
}

/** 50 changes/s to ConfigMaps in the source; each change's lag until the destination's watch shows its copy. */
async function measureLag(source: KubeRestClient, destination: KubeRestClient, ns: string): Promise<number[]> {
  const written = new Map<string, number>(); // source RV -> when its write was acknowledged
  const seen = new Map<string, number>(); // source RV -> when the destination's watch showed the copy
  const watch = await destination.watch<{ metadata: { annotations?: Record<string, string> } }>(
    `/api/v1/namespaces/${ns}/configmaps?watch=true&resourceVersion=0`,
    (event) => {
      const rv = event.object.metadata.annotations?.[MIRROR_OF_RV_ANNOTATION];
      if (rv && !seen.has(rv)) seen.set(rv, performance.now());
    },
  );
  const changes = CHANGES_PER_SECOND * LAG_SECONDS;
  const start = performance.now();
  const writes: Promise<void>[] = [];
  for (let i = 0; i < changes; i++) {
    const due = start + (i * 1000) / CHANGES_PER_SECOND;
    if (due > performance.now()) await sleep(due - performance.now());
    const name = `cm-${i % 200}`;
    writes.push(
      source
        .expect<{ metadata: { resourceVersion: string } }>(
          'PATCH',
          `/api/v1/namespaces/${ns}/configmaps/${name}`,
          [200],
          { data: { change: String(i) } },
          { patchType: 'merge' },
        )
        .then((r) => void written.set(r.body.metadata.resourceVersion, performance.now())),
    );
  }
  await Promise.all(writes);
  await waitUntil('every change to reach the destination', () => [...written.keys()].every((rv) => seen.has(rv)) || undefined, { timeoutMs: 60_000 }).catch(
    () => undefined,
  );
  watch.stop();
  // A copy seen before the source's answer arrived has lag ~0 from the client's point of view: clamp.
  return [...written].filter(([rv]) => seen.has(rv)).map(([rv, at]) => Math.max(0, seen.get(rv)! - at));
}

async function main(): Promise<void> {
  const lab = requireLab();
  if (readInstalledDaemons().some((d) => d.name === 'synchronizer' && isDaemonAlive(d)))
    throw new BridgeError('BRIDGE_ERR_USAGE', 'the lab has a synchronizer installed: it would mirror the benchmark objects too', {
      fix: 'run `bridgectl lab uninstall` (or use a lab without `lab install`)',
    });
  const source = KubeRestClient.load(kubeconfigPath('source'));
  const destination = KubeRestClient.load(kubeconfigPath('destination'));
  const [syncNs, floorNs, createsNs, leaseName] = [`bench-sync-${id}`, `bench-sync-floor-${id}`, `bench-sync-creates-${id}`, `bench-sync-${id}`];
  const items = objects();
  const children: ChildProcess[] = [];
  process.once('exit', () => children.forEach((c) => c.kill('SIGKILL')));
  try {
    const loadAverage = (await import('node:fs')).readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    out(`synchronizer benchmark against kube-apiserver ${lab.kubernetesVersion} (one run; 2 shared cores; load average before: ${loadAverage})`);
    const counts = items.reduce<Record<string, number>>((c, o) => ({ ...c, [o.kind]: (c[o.kind] ?? 0) + 1 }), {});
    out(
      `objects: ${items.length} (${Object.entries(counts)
        .map(([k, n]) => `${n} ${k}`)
        .join(', ')})`,
    );
    let started = performance.now();
    await createAll(source, syncNs, items, 50);
    out(`\nsource seeded with plain creates (50 at a time): ${fmt(items.length / ((performance.now() - started) / 1000), 0)} objects/s`);

    // A second peer: the destination's own write rate, plain creates with as many in flight as the synchronizer's reconcile.
    started = performance.now();
    await createAll(destination, createsNs, items, RECONCILE_CONCURRENCY);
    const createsSeconds = (performance.now() - started) / 1000;

    // The floor: kubectl apply --server-side of the same objects into an empty destination namespace.
    const file = join(mkdtempSync(join(tmpdir(), 'bench-sync-floor-')), 'objects.yaml');
    writeFileSync(file, items.map((o) => stringify({ ...o, metadata: { ...o.metadata, namespace: floorNs } })).join('---\n'));
    await destination.expect('POST', '/api/v1/namespaces', [201], { metadata: { name: floorNs } });
    started = performance.now();
    await runKubectl(['--kubeconfig', kubeconfigPath('destination'), 'apply', '--server-side', '--field-manager=bench', '-f', file]);
    const floorSeconds = (performance.now() - started) / 1000;

    const opsPort = await freePort();
    const synchronizerEnv = await labSynchronizerEnv('bench-sync', SHARDS, opsPort); // its certificates are made before the clock starts
    started = performance.now();
    children.push(startSynchronizer(synchronizerEnv, leaseName));
    let objectsDone = 0;
    await waitUntil(
      'the synchronizer to finish its initial sync',
      async () => {
        // The benchmark's shards only: the cluster RBAC mirrors run beside them (docs/adr/0013).
        const mirrors = (await syncStatus(opsPort))?.mirrors.filter((m) => SHARDS.includes(m.shard)) ?? [];
        objectsDone = mirrors.reduce((n, m) => n + m.done, 0);
        return (mirrors.length === SHARDS.length && mirrors.every((m) => m.initialSyncComplete)) || undefined;
      },
      { timeoutMs: 600_000, intervalMs: 50 },
    );
    const syncSeconds = (performance.now() - started) / 1000;
    const copies = (await destination.expect<{ items: unknown[] }>('GET', `/api/v1/namespaces/${syncNs}/configmaps`, [200])).body.items.length;
    out('\ninitial sync of the same objects into an empty destination (process start to done)');
    const rate = (name: string, seconds: number, extra = '') =>
      out(`  ${name.padEnd(30)} ${fmt(seconds, 1).padStart(6)} s  ${fmt(items.length / seconds, 0).padStart(5)} objects/s${extra}`);
    rate('kubectl apply --server-side', floorSeconds);
    rate(`plain creates, ${RECONCILE_CONCURRENCY} at a time`, createsSeconds);
    rate('synchronizer', syncSeconds, `  (${objectsDone} objects of all namespaces done; ${copies} ConfigMaps here)`);
    out(`  ratio synchronizer time / kubectl time: ${fmt(syncSeconds / floorSeconds)} (target <= 1.5)`);
    out(`  ratio synchronizer time / plain-creates time: ${fmt(syncSeconds / createsSeconds)}`);

    const lags = await measureLag(source, destination, syncNs);
    const status = await syncStatus(opsPort);
    const own = status?.mirrors.find((m) => m.shard === 'configmaps')?.lag;
    out(`\nsteady state: ${CHANGES_PER_SECOND} ConfigMap changes/s for ${LAG_SECONDS} s (${lags.length} of ${CHANGES_PER_SECOND * LAG_SECONDS} seen); lag ms`);
    out(
      `  end to end (source write acknowledged -> destination watch)   p50 ${fmt(percentile(lags, 50), 1)}  p99 ${fmt(percentile(lags, 99), 1)} (target p99 < 250)`,
    );
    out(
      `  synchronizer's own (watch saw it -> replica write acknowledged) p50 ${fmt(own?.p50Ms ?? NaN, 1)}  p99 ${fmt(own?.p99Ms ?? NaN, 1)} (${own?.count ?? 0} writes)`,
    );
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await sleep(500);
    await source.request('DELETE', `/api/v1/namespaces/${syncNs}`).catch(() => undefined);
    for (const ns of [syncNs, floorNs, createsNs]) await destination.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
    await destination.request('DELETE', `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases/${leaseName}`).catch(() => undefined);
    source.close();
    destination.close();
  }
}

await main();
