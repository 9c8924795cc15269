/**
 * Merged reads benchmark (not a test; issue 24): what answering a cluster-wide read from both clusters
 * costs, side by side in one run with the same read answered by one backend. Uses the lab's installed
 * bridge (`bridgectl lab up`, `bridgectl lab install`), whose aggregator carries ConfigMaps in
 * namespace shards:
 *   LIST, 5,000 ConfigMaps (interleaved turns, one client, latency and CPU per request):
 *     direct       the source API server, the 5,000 of one namespace (no bridge: the floor)
 *     one backend  the same namespaced list through the aggregator (routed to the source, piped)
 *     merged       a cluster-wide list through the aggregator of 5,000 ConfigMaps split 50/50: 2,500 in a
 *                  namespace the source owns, 2,500 in one moved to the destination; both clusters
 *                  list (each holds all 5,000 copies) and the aggregator keeps each owner's half
 *   WATCH, events' latency from the write's start to the event's arrival, the same writes seen by:
 *     one backend  a namespaced watch through the aggregator of the written namespace (source or
 *                  destination owned: routed to that one backend)
 *     merged       a cluster-wide watch through the aggregator (both backends, filtered by owner)
 *   and the merged watch's added latency per event (paired: the same event in both watches).
 * The two LISTs differ in one more way than the merging: the backends answer a cluster-wide label
 * selection (every ConfigMap of the cluster read and filtered) for the merged list, a namespace's list
 * for the others; the direct cluster-wide list is printed too, so that share is visible.
 * Writes go to each namespace's owner directly as the lab's admin (the bench measures reads).
 *
 *   npm run bench:merged
 */
import { Agent, request } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeDesiredOwners } from '../aggregator/handoff/owner-reconciler.js';
import { ensureWorkloadReader } from '../cli/demo-namespace-setup.js';
import { readRoutingTable } from '../cli/aggregator-commands.js';
import { labComponentsKubeconfig } from '../lab/install-bridge.js';
import { adminCredentials, requireLab } from '../lab/lab-files.js';
import { KubeRestClient, usingClient } from '../lib/kube/rest-client.js';
import { WatchEventDecoder } from '../lib/kube/watch-stream.js';
import { labDir } from '../lib/process/paths.js';
import { namespaceShardKey } from '../lib/routing/shard-hash.js';
import type { ClusterSide } from '../lib/routing/types.js';
import { waitUntil } from '../lib/wait-until.js';
import { installed, workloadCredentials } from './lab-bridge.js';
import { call, type Target } from './load.js';
import { cpuOf, fmt, percentile } from './stats.js';

const OBJECTS = 5000;
const BATCH = 50;
const TURNS = 4;
const TURN_SECONDS = 3;
const WATCH_EVENTS = 200;
/** Namespaces: the source keeps SPLIT_SOURCE, SPLIT_DESTINATION moves; ONE holds all 5,000 on the source. */
const SPLIT_SOURCE = 'bench-merged-src';
const SPLIT_DESTINATION = 'bench-merged-dst';
const ONE = 'bench-merged-one';
const LIST_LABEL = 'bench=merged-list';
const WATCH_LABEL = 'bench=merged-watch';

const out = (line: string) => process.stdout.write(`${line}\n`);
const cm = (namespace: string, name: string, label: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace, labels: Object.fromEntries([label.split('=') as [string, string]]) },
  data: { key: 'value-'.repeat(10) },
});

/** The namespace exists and holds `count` ConfigMaps labelled `label` (created as missing: a second run reuses them). */
async function seed(api: KubeRestClient, namespace: string, count: number, label: string): Promise<void> {
  await api.expect('POST', '/api/v1/namespaces', [201, 409], { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  const listed = await api.expect<{ items: { metadata: { name: string } }[] }>(
    'GET',
    `/api/v1/namespaces/${namespace}/configmaps?labelSelector=${encodeURIComponent(label)}`,
    [200],
  );
  const have = new Set(listed.body.items.map((i) => i.metadata.name));
  const missing = Array.from({ length: count }, (_, i) => `cm-${i}`).filter((name) => !have.has(name));
  for (let i = 0; i < missing.length; i += BATCH) {
    await Promise.all(
      missing.slice(i, i + BATCH).map((name) => api.expect('POST', `/api/v1/namespaces/${namespace}/configmaps`, [201, 409], cm(namespace, name, label))),
    );
  }
}

/** Deletes the bench's namespaces on both clusters and waits until they are gone: a run right after another would seed into a terminating namespace. */
async function removeNamespaces(apis: KubeRestClient[]): Promise<void> {
  for (const namespace of [SPLIT_SOURCE, SPLIT_DESTINATION, ONE])
    for (const api of apis) await api.expect('DELETE', `/api/v1/namespaces/${namespace}`, [200, 202, 404]);
  await waitUntil(
    "the bench's namespaces deleted",
    async () => {
      for (const namespace of [SPLIT_SOURCE, SPLIT_DESTINATION, ONE])
        for (const api of apis) if ((await api.request('GET', `/api/v1/namespaces/${namespace}`)).status !== 404) return undefined;
      return true;
    },
    { timeoutMs: 300_000, intervalMs: 1000 },
  );
}

/** Sets the namespace shard's desired owner and waits until the aggregator completed the hand-off. */
async function moveNamespace(destination: KubeRestClient, namespace: string, to: ClusterSide): Promise<void> {
  const key = namespaceShardKey(namespace);
  await writeDesiredOwners(destination, { [key]: to });
  await waitUntil(
    `${key} served by the ${to}`,
    async () => {
      const state = (await readRoutingTable(destination)).shards[key];
      return (state?.owner ?? 'source') === to && !state?.handoff ? true : undefined;
    },
    { timeoutMs: 180_000, intervalMs: 250 },
  );
}

interface ListTarget {
  name: string;
  target: Target;
  path: string;
  /** The processes whose CPU a request costs: the aggregator's, and each API server's. */
  proxyPids: number[];
  apiserverPids: number[];
}

interface ListSample {
  ms: number[];
  bytes: number;
  items: number;
  proxyCpu: number;
  apiserverCpu: number;
}

/** One turn: `seconds` of back-to-back requests from one client. */
async function listTurn(t: ListTarget, seconds: number, into: ListSample): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const [proxy0, apiservers0] = [cpuOf(t.proxyPids), cpuOf(t.apiserverPids)];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const r = await call(t.target, agent, t.path);
    into.ms.push(r.ms);
    into.bytes = r.bytes;
  }
  into.proxyCpu += cpuOf(t.proxyPids) - proxy0;
  into.apiserverCpu += cpuOf(t.apiserverPids) - apiservers0;
  agent.destroy();
}

/** How many items one answer holds (checked once: every path must answer the 5,000). */
async function itemsOf(t: ListTarget): Promise<number> {
  const body = await new Promise<string>((resolve, reject) => {
    const req = request(`${t.target.base}${t.path}`, { ca: t.target.caPem, headers: { authorization: `Bearer ${t.target.token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`${t.name}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
  return (JSON.parse(body) as { items: unknown[] }).items.length;
}

/** A watch stream recording when each object's first event arrived (by namespace/name). */
function openWatch(target: Target, path: string): { arrivals: Map<string, number>; close(): void; ready: Promise<void> } {
  const arrivals = new Map<string, number>();
  const decoder = new WatchEventDecoder<{ metadata: { name: string; namespace: string } }>();
  let req: ReturnType<typeof request> | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    req = request(`${target.base}${path}`, { ca: target.caPem, headers: { authorization: `Bearer ${target.token}` } }, (res) => {
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => reject(new Error(`watch ${path}: HTTP ${res.statusCode} ${Buffer.concat(chunks).toString().slice(0, 300)}`)));
        return;
      }
      resolve();
      res.on('data', (chunk: Buffer) =>
        decoder.push(chunk, (event) => {
          const key = `${event.object.metadata.namespace}/${event.object.metadata.name}`;
          if (event.type === 'ADDED' && !arrivals.has(key)) arrivals.set(key, performance.now());
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
  return { arrivals, ready, close: () => req?.destroy() };
}

const stats = (values: number[]) => `p50 ${fmt(percentile(values, 50), 2)}  p99 ${fmt(percentile(values, 99), 2)}`;

async function benchWatch(aggregator: Target, writers: Record<ClusterSide, KubeRestClient>): Promise<void> {
  const label = encodeURIComponent(WATCH_LABEL);
  for (const [namespace, api] of [
    [SPLIT_SOURCE, writers.source],
    [SPLIT_DESTINATION, writers.destination],
  ] as const)
    await api.expect('DELETE', `/api/v1/namespaces/${namespace}/configmaps?labelSelector=${label}`, [200]);
  await sleep(1000);
  const merged = openWatch(aggregator, `/api/v1/configmaps?watch=1&labelSelector=${label}`);
  const single = {
    [SPLIT_SOURCE]: openWatch(aggregator, `/api/v1/namespaces/${SPLIT_SOURCE}/configmaps?watch=1&labelSelector=${label}`),
    [SPLIT_DESTINATION]: openWatch(aggregator, `/api/v1/namespaces/${SPLIT_DESTINATION}/configmaps?watch=1&labelSelector=${label}`),
  };
  try {
    await Promise.all([merged.ready, ...Object.values(single).map((w) => w.ready)]);
    await sleep(500);
    const started = new Map<string, number>();
    for (let i = 0; i < WATCH_EVENTS; i++) {
      const namespace = i % 2 === 0 ? SPLIT_SOURCE : SPLIT_DESTINATION;
      const name = `watched-${i}`;
      started.set(`${namespace}/${name}`, performance.now());
      await (i % 2 === 0 ? writers.source : writers.destination).expect(
        'POST',
        `/api/v1/namespaces/${namespace}/configmaps`,
        [201],
        cm(namespace, name, WATCH_LABEL),
      );
      await sleep(20);
    }
    await waitUntil('every event in every watch', () => (merged.arrivals.size >= WATCH_EVENTS ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 100,
    }).catch(() => undefined);
    out(`\nwatch: ${WATCH_EVENTS} creates (half in each cluster's namespace), latency ms from the write's start to the event`);
    for (const [namespace, side] of [
      [SPLIT_SOURCE, 'source'],
      [SPLIT_DESTINATION, 'destination'],
    ] as const) {
      const keys = [...started.keys()].filter((k) => k.startsWith(`${namespace}/`));
      const one = keys.flatMap((k) => (single[namespace].arrivals.has(k) ? [single[namespace].arrivals.get(k)! - started.get(k)!] : []));
      const both = keys.flatMap((k) => (merged.arrivals.has(k) ? [merged.arrivals.get(k)! - started.get(k)!] : []));
      const added = keys.flatMap((k) =>
        merged.arrivals.has(k) && single[namespace].arrivals.has(k) ? [merged.arrivals.get(k)! - single[namespace].arrivals.get(k)!] : [],
      );
      out(`  ${side}-owned namespace (${keys.length} events):`);
      out(`    one backend   ${stats(one)}  (${one.length} seen)`);
      out(`    merged        ${stats(both)}  (${both.length} seen)`);
      out(`    merged adds   ${stats(added)} per event (paired); merged x one backend p50 ${fmt(percentile(both, 50) / percentile(one, 50))}`);
    }
  } finally {
    merged.close();
    Object.values(single).forEach((w) => w.close());
  }
}

async function main(): Promise<void> {
  const lab = requireLab();
  const { token } = workloadCredentials();
  const aggregator = installed('aggregator');
  const bridgeCaPem = readFileSync(join(labDir(), 'install', 'bridge-ca.crt'), 'utf8');
  const admin = { source: adminCredentials('source'), destination: adminCredentials('destination') };
  const writers = {
    source: KubeRestClient.withCredentials(lab.clusters.source.server, admin.source),
    destination: KubeRestClient.withCredentials(lab.clusters.destination.server, admin.destination),
  };
  const apiserverPid = (side: ClusterSide) => lab.clusters[side].daemons.find((d) => d.name === 'kube-apiserver')?.pid;
  const apiserverPids = [apiserverPid('source'), apiserverPid('destination')].filter((p): p is number => p !== undefined);
  try {
    await usingClient(KubeRestClient.load(await labComponentsKubeconfig('source')), ensureWorkloadReader);
    const started = Date.now();
    // Seeded on the source before the move; the synchronizer mirrors every copy to the destination.
    await seed(writers.source, SPLIT_SOURCE, OBJECTS / 2, LIST_LABEL);
    await seed(writers.source, SPLIT_DESTINATION, OBJECTS / 2, LIST_LABEL);
    await seed(writers.source, ONE, OBJECTS, LIST_LABEL.replace('list', 'one'));
    await moveNamespace(writers.destination, SPLIT_DESTINATION, 'destination');
    out(`seeded ${OBJECTS * 2} ConfigMaps and moved ${SPLIT_DESTINATION} to the destination in ${((Date.now() - started) / 1000).toFixed(0)} s`);

    const viaAggregator: Target = { name: 'aggregator', base: `https://127.0.0.1:${aggregator.port}`, caPem: bridgeCaPem, pids: [aggregator.pid], token };
    const direct: Target = { name: 'direct', base: lab.clusters.source.server, caPem: admin.source.caPem, pids: [], token };
    const oneList = `/api/v1/namespaces/${ONE}/configmaps?labelSelector=${encodeURIComponent(LIST_LABEL.replace('list', 'one'))}`;
    const mergedList = `/api/v1/configmaps?labelSelector=${encodeURIComponent(LIST_LABEL)}`;
    const targets: ListTarget[] = [
      { name: 'direct', target: direct, path: oneList, proxyPids: [], apiserverPids },
      { name: 'direct cluster-wide', target: direct, path: mergedList, proxyPids: [], apiserverPids },
      { name: 'one backend', target: viaAggregator, path: oneList, proxyPids: [aggregator.pid], apiserverPids },
      { name: 'merged', target: viaAggregator, path: mergedList, proxyPids: [aggregator.pid], apiserverPids },
    ];
    for (const t of targets) {
      const items = await itemsOf(t);
      // The direct cluster-wide list answers the source's copies of both namespaces (5,000), as the merged one must.
      if (items !== OBJECTS) throw new Error(`${t.name}: ${items} items, not ${OBJECTS}`);
    }
    const loadAverage = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    out(`merged reads benchmark against kube-apiserver ${lab.kubernetesVersion} (one run; 2 shared cores; load average before: ${loadAverage})`);
    const samples = Object.fromEntries(targets.map((t) => [t.name, { ms: [], bytes: 0, items: OBJECTS, proxyCpu: 0, apiserverCpu: 0 } as ListSample]));
    for (const t of targets) await listTurn(t, 1, { ms: [], bytes: 0, items: 0, proxyCpu: 0, apiserverCpu: 0 }); // warm-up
    for (let turn = 0; turn < TURNS; turn++) for (const t of targets) await listTurn(t, TURN_SECONDS, samples[t.name]!);
    out(`\nLIST of ${OBJECTS} ConfigMaps, one client, ${TURNS} interleaved turns of ${TURN_SECONDS} s; latency ms, CPU ms per request`);
    for (const t of targets) {
      const s = samples[t.name]!;
      const n = s.ms.length;
      out(
        `  ${t.name.padEnd(20)} ${stats(s.ms)}  ${n} requests, ${fmt(s.bytes / 1e6, 2)} MB each;` +
          ` CPU per request: aggregator ${fmt((s.proxyCpu * 1000) / n, 1)}, API servers ${fmt((s.apiserverCpu * 1000) / n, 1)}`,
      );
    }
    const one = samples['one backend']!;
    const merged = samples.merged!;
    const cpu = (s: ListSample) => (s.proxyCpu * 1000) / s.ms.length;
    const servers = (s: ListSample) => (s.apiserverCpu * 1000) / s.ms.length;
    out(
      `  merged x one backend: p50 ${fmt(percentile(merged.ms, 50) / percentile(one.ms, 50))}, p99 ${fmt(percentile(merged.ms, 99) / percentile(one.ms, 99))},` +
        ` aggregator CPU per request ${fmt(cpu(merged) / cpu(one))}, API servers' CPU per request ${fmt(servers(merged) / servers(one))}`,
    );
    await benchWatch(viaAggregator, writers);
  } finally {
    await moveNamespace(writers.destination, SPLIT_DESTINATION, 'source').catch((err) => out(`could not move ${SPLIT_DESTINATION} back: ${String(err)}`));
    await removeNamespaces(Object.values(writers)).catch((err) => out(`could not remove the bench's namespaces: ${String(err)}`));
    Object.values(writers).forEach((w) => w.close());
  }
}

await main();
