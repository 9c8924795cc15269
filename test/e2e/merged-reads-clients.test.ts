// Issue 24's acceptance on the lab's two real clusters, with real clients through sidecar -> aggregator:
// while application namespaces are split between the clusters and one of them changes owner every few
// seconds, `kubectl get cm -A`, a client-node informer and a client-go informer on all namespaces, and
// python's list_config_map_for_all_namespaces + watch each end up holding exactly the union of what the
// owners hold (no duplicate, none missing, no destination system object), every RV decimal below 2^63
// and never decreasing within a watch stream, at most one relist per hand-off; a watch resumed from any
// RV it was given misses nothing; a second aggregator replica and a restarted one (a new process on the
// persisted table) present the same RVs. Namespace shards fence only their own namespaces, so this file
// runs on the shared lab; the in-process bridge takes its turn by lockBridgeState.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import type { RunningAggregator } from '../../aggregator/server.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { WatchEventDecoder, WatchStreamError } from '../../lib/kube/watch-stream.js';
import { namespaceShardKey } from '../../lib/routing/shard-hash.js';
import type { ClusterSide } from '../../lib/routing/types.js';
import { waitUntil } from '../../lib/wait-until.js';
import { startLabBridge, startSecondAggregator, type LabBridge } from '../helpers/bridge-lab.js';
import { buildGoClients, startGoInformer, type GoInformerLine } from '../helpers/go-clients.js';
import { RV_LIMIT } from '../helpers/informer-recorder.js';
import { createNamespace, kubeconfigPath, kubectl, kubectlOk, PYTHON, pythonScript, uniqueName } from '../helpers/lab-clients.js';
import { serviceAccountToken, tokenKubeconfig } from '../helpers/sidecar-lab.js';

const NAMESPACES = 6;
const PER_NAMESPACE = 3;
/** The churn lasts at least this long and until this many hand-offs were made (each takes seconds under load). */
const CHURN_SECONDS = 40;
const CHURN_HANDOFFS = 8;
const MOVE_EVERY_MS = 3000;
const RUN = uniqueName('merged');
const SELECTOR = `merged-e2e=${RUN}`;
const MERGED_RV_BASE = 2n ** 62n;

let bridge: LabBridge;
let namespaces: string[];
let token: string;
let kubeconfig: string;
let kc: k8s.KubeConfig;
let source: KubeRestClient;
let destination: KubeRestClient;
/** What the writers left: `namespace/name` -> data.i. */
const expected = new Map<string, string>();
let handoffs = 0;

type View = Map<string, string>;
const key = (namespace: string, name: string) => `${namespace}/${name}`;
const sorted = (view: View) => [...view.entries()].sort(([a], [b]) => a.localeCompare(b));
const core = () => kc.makeApiClient(k8s.CoreV1Api);

function expectRV(rv: string | undefined): void {
  expect(rv).toMatch(/^\d+$/);
  expect(BigInt(rv!)).toBeLessThan(RV_LIMIT);
}

function expectNonDecreasing(rvs: readonly string[], what: string): void {
  const values = rvs.map(BigInt);
  for (let i = 1; i < values.length; i++) if (values[i]! < values[i - 1]!) throw new Error(`${what}: RV ${values[i]} after ${values[i - 1]} (position ${i})`);
}

function ownerOf(namespace: string): ClusterSide {
  return bridge.aggregator.routing.table.shards[namespaceShardKey(namespace)]?.owner ?? 'source';
}

async function move(namespace: string, to: ClusterSide): Promise<void> {
  await bridge.aggregator.handoff!.changeOwner(namespaceShardKey(namespace), to, 'e2e');
  handoffs++;
}

/** What each namespace's owner holds of the run's ConfigMaps, read from the clusters directly. */
async function ownersHold(): Promise<View> {
  const view: View = new Map();
  for (const namespace of namespaces) {
    const cluster = ownerOf(namespace) === 'source' ? source : destination;
    const list = await cluster.expect<{ items: k8s.V1ConfigMap[] }>(
      'GET',
      `/api/v1/namespaces/${namespace}/configmaps?labelSelector=${encodeURIComponent(SELECTOR)}`,
      [200],
    );
    for (const cm of list.body.items) view.set(key(namespace, cm.metadata!.name!), cm.data?.i ?? '');
  }
  return view;
}

/** The list RV the server gives kubectl for the run's ConfigMaps of all namespaces. */
async function kubectlListRV(): Promise<string> {
  const raw = await kubectlOk(kubeconfig, ['get', '--raw', `/api/v1/configmaps?labelSelector=${encodeURIComponent(SELECTOR)}&limit=1`]);
  return (JSON.parse(raw) as k8s.V1ConfigMapList).metadata!.resourceVersion!;
}

/** Writes through the bridge as a controller would (503 while a namespace's writes are held: retried). */
async function retrying<T>(what: string, call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if ((err as { code?: number }).code !== 503 || attempt > 100) throw new Error(`${what}: ${String(err)}`);
      await sleep(200);
    }
  }
}

/** Creates, updates and deletes the run's ConfigMaps round robin over the namespaces until `stop()`. */
async function writeUntil(stop: () => boolean): Promise<number> {
  let writes = 0;
  for (let i = 0; !stop(); i++) {
    const namespace = namespaces[i % namespaces.length]!;
    const mine = [...expected.keys()].filter((k) => k.startsWith(`${namespace}/`));
    const value = String(i);
    if (i % 5 === 3 && mine.length > 2) {
      const name = mine[0]!.split('/')[1]!;
      await retrying(`delete ${name}`, () => core().deleteNamespacedConfigMap({ name, namespace }));
      expected.delete(key(namespace, name));
    } else if (i % 2 === 1 && mine.length > 0) {
      const name = mine.at(-1)!.split('/')[1]!;
      await retrying(`update ${name}`, () =>
        core().patchNamespacedConfigMap({ name, namespace, body: { data: { i: value } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)),
      );
      expected.set(key(namespace, name), value);
    } else {
      const name = `w-${i}`;
      await retrying(`create ${name}`, () =>
        core().createNamespacedConfigMap({ namespace, body: { metadata: { name, labels: { 'merged-e2e': RUN } }, data: { i: value } } }),
      );
      expected.set(key(namespace, name), value);
    }
    writes++;
    await sleep(100);
  }
  return writes;
}

/** Moves one namespace at a time so the namespaces stay split (never all on one side) until `stop()`. */
async function moveUntil(stop: () => boolean): Promise<void> {
  for (let i = 0; !stop(); i++) {
    const namespace = namespaces[1 + (i % (namespaces.length - 1))]!;
    await move(namespace, ownerOf(namespace) === 'source' ? 'destination' : 'source');
    await sleep(MOVE_EVERY_MS);
  }
}

/** A client-node informer on all namespaces, as a cluster-wide controller runs one (restarted after a watch error). */
async function clientNodeInformer() {
  const lists: { rv: string; at: number }[] = [];
  const events: { type: string; key: string; rv: string; segment: number }[] = [];
  const informer = k8s.makeInformer<k8s.V1ConfigMap>(
    kc,
    '/api/v1/configmaps',
    async () => {
      const listed = await core().listConfigMapForAllNamespaces({ labelSelector: SELECTOR });
      lists.push({ rv: listed.metadata!.resourceVersion!, at: events.length });
      return listed;
    },
    SELECTOR,
  );
  for (const type of ['add', 'update', 'delete'] as const)
    informer.on(type, (cm) =>
      events.push({ type, key: key(cm.metadata!.namespace!, cm.metadata!.name!), rv: cm.metadata!.resourceVersion!, segment: lists.length }),
    );
  let stopped = false;
  informer.on('error', () => setTimeout(() => !stopped && void informer.start().catch(() => undefined), 200));
  await informer.start();
  return {
    lists,
    events,
    view: (): View => new Map(informer.list().map((cm) => [key(cm.metadata!.namespace!, cm.metadata!.name!), cm.data?.i ?? ''])),
    async stop() {
      stopped = true;
      await informer.stop();
    },
  };
}

interface PythonLine {
  event: 'list' | 'watch' | 'stream' | 'expired' | 'error';
  stream?: number;
  type?: string;
  namespace?: string;
  name?: string;
  rv?: string;
  i?: string | null;
  status?: number;
  items?: [string, string, string, string | null][];
}

/** python3-kubernetes: list_config_map_for_all_namespaces + watch (test/helpers/python/list_watch_all.py), until stop(). */
function pythonReader() {
  const stopFile = join(bridge.sidecar.dir, `python-stop-${RUN}`);
  const child = spawn(PYTHON, [pythonScript('list_watch_all.py'), kubeconfig, SELECTOR, stopFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: PythonLine[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  createInterface({ input: child.stdout }).on('line', (line) => line.startsWith('{') && lines.push(JSON.parse(line) as PythonLine));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  return {
    lines,
    /** The state a client rebuilds from its last list and the events after it. */
    view(): View {
      const view: View = new Map();
      for (const line of lines) {
        if (line.event === 'list') {
          view.clear();
          for (const [namespace, name, , i] of line.items!) view.set(key(namespace, name), i ?? '');
        } else if (line.event === 'stream' && line.type !== 'BOOKMARK') {
          if (line.type === 'DELETED') view.delete(key(line.namespace!, line.name!));
          else view.set(key(line.namespace!, line.name!), line.i ?? '');
        }
      }
      return view;
    },
    async stop() {
      writeFileSync(stopFile, '');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      if (code !== 0) throw new Error(`list_watch_all.py exited ${code}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`);
    },
  };
}

/** The Go informer's cache as its handler calls built it. */
function goHandlerView(lines: readonly GoInformerLine[]): View {
  const view: View = new Map();
  for (const line of lines) {
    if (line.event === 'add' || line.event === 'update') view.set(key(line.namespace!, line.name!), line.i ?? '');
    if (line.event === 'delete') view.delete(key(line.namespace!, line.name!));
  }
  return view;
}

/** The Go informer's state rebuilt from its handler calls (what a controller's lister holds). */
function goView(lines: readonly GoInformerLine[]): View {
  const cache = lines.findLast((l) => l.event === 'cache');
  if (cache) return new Map((cache.items ?? []).map((i) => [key(i.namespace, i.name), i.data?.i ?? '']));
  throw new Error('the Go informer printed no cache');
}

/**
 * Per watch stream: RVs decimal < 2^63, never decreasing, no event delivered twice, none at or before
 * the RV it resumed from. A stream asking for initial events (client-go's WatchList) starts with the
 * current objects in key order, each with its own RV, as kube-apiserver sends them: its order is
 * checked from the bookmark that ends them (the first bookmark of such a stream).
 */
function checkStreams(
  watches: { stream: number; rv?: string; initial?: boolean }[],
  events: { stream: number; type?: string; key: string; rv: string }[],
  who: string,
) {
  for (const watch of watches) {
    const mine = events.filter((e) => e.stream === watch.stream);
    mine.forEach((e) => expectRV(e.rv));
    // A WatchList stream closed (by a hand-off) before its initial events ended holds initial events only.
    const initialEnd = mine.findIndex((e) => e.type === 'BOOKMARK');
    const ordered = !watch.initial ? mine : initialEnd < 0 ? [] : mine.slice(initialEnd + 1);
    expectNonDecreasing(
      ordered.map((e) => e.rv),
      `${who} stream ${watch.stream}`,
    );
    const changes = mine.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${e.key} ${e.rv}`);
    expect(new Set(changes).size).toBe(changes.length);
    if (watch.rv && watch.rv !== '0' && !watch.initial) for (const e of mine) expect(BigInt(e.rv)).toBeGreaterThan(BigInt(watch.rv));
  }
}

/** A raw watch through the sidecar (or an aggregator replica), collecting events until closed or ended. */
function rawWatch(base: string, caPem: string, path: string) {
  const events: { type: string; key: string; rv: string; i?: string }[] = [];
  let status = 0;
  let error: WatchStreamError | undefined;
  const decoder = new WatchEventDecoder<k8s.V1ConfigMap>();
  let req: ReturnType<typeof request> | undefined;
  const ended = new Promise<void>((resolve) => {
    req = request(new URL(path, base), { ca: caPem, headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, agent: false }, (res) => {
      status = res.statusCode ?? 0;
      res.on('data', (chunk: Buffer) => {
        try {
          decoder.push(chunk, (e) =>
            events.push({
              type: e.type,
              key: key(e.object.metadata!.namespace ?? '', e.object.metadata!.name ?? ''),
              rv: e.object.metadata!.resourceVersion!,
              i: e.object.data?.i,
            }),
          );
        } catch (err) {
          error = err as WatchStreamError;
        }
      });
      res.on('end', resolve);
      res.on('error', () => resolve());
    });
    req.on('error', () => resolve());
    req.end();
  });
  return { events, ended, status: () => status, error: () => error, close: () => req?.destroy() };
}

async function getJson<T>(base: string, caPem: string, path: string): Promise<{ status: number; body: T }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, base), { ca: caPem, headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || '{}') as T }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  namespaces = [];
  for (let i = 0; i < NAMESPACES; i++) namespaces.push(await createNamespace('source', 'merged'));
  token = await serviceAccountToken(namespaces[0]!, 'reader');
  const subject = `--serviceaccount=${namespaces[0]}:reader`;
  for (const namespace of namespaces.slice(1))
    await kubectlOk('source', ['-n', namespace, 'create', 'rolebinding', 'reader-edit', '--clusterrole=edit', subject]);
  await kubectlOk('source', ['create', 'clusterrole', RUN, '--verb=get,list,watch', '--resource=configmaps']);
  await kubectlOk('source', ['create', 'clusterrolebinding', RUN, `--clusterrole=${RUN}`, subject]);
  bridge = await startLabBridge({ namespace: namespaces[0]! });
  kubeconfig = tokenKubeconfig(bridge.sidecar.dir, 'merged', bridge.sidecar.server, bridge.sidecar.caBundlePem, token, namespaces[0]!);
  kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  source = KubeRestClient.load(kubeconfigPath('source'));
  destination = KubeRestClient.load(kubeconfigPath('destination'));
  // The destination serves the reader by impersonation: its RBAC must be mirrored before a namespace moves.
  await waitUntil(
    'the RBAC mirrored to the destination',
    async () => {
      const cluster = await kubectl('destination', ['get', `clusterrolebinding/${RUN}`, `clusterrole/${RUN}`, '-o', 'name']);
      const per = await Promise.all(namespaces.slice(1).map((ns) => kubectl('destination', ['-n', ns, 'get', 'rolebinding/reader-edit', '-o', 'name'])));
      return cluster.code === 0 && per.every((r) => r.code === 0) ? true : undefined;
    },
    { timeoutMs: 60_000 },
  );
  for (const namespace of namespaces)
    for (let i = 0; i < PER_NAMESPACE; i++) {
      const name = `seed-${i}`;
      await core().createNamespacedConfigMap({ namespace, body: { metadata: { name, labels: { 'merged-e2e': RUN } }, data: { i: 'seed' } } });
      expected.set(key(namespace, name), 'seed');
    }
  // Split before the clients start: every other namespace in the destination.
  for (const namespace of namespaces.filter((_, i) => i % 2 === 1)) await move(namespace, 'destination');
}, 300_000);

afterAll(async () => {
  if (bridge) for (const namespace of namespaces) if (ownerOf(namespace) !== 'source') await move(namespace, 'source').catch(() => undefined);
  await bridge?.close();
  source?.close();
  destination?.close();
  await kubectl('source', ['delete', 'clusterrolebinding,clusterrole', RUN, '--wait=false']);
  for (const namespace of namespaces ?? [])
    for (const cluster of ['source', 'destination']) await kubectl(cluster, ['delete', 'namespace', namespace, '--wait=false']);
}, 180_000);

describe('merged cluster-wide reads with real clients while namespaces move (issue 24 acceptance)', () => {
  it("kubectl -A, client-node and client-go informers and python list+watch see exactly the owners' union, RVs in order, no relist loop", async () => {
    const goBinary = await buildGoClients();
    const nodeInformer = await clientNodeInformer();
    const goInformer = startGoInformer(goBinary, kubeconfig, SELECTOR);
    expect(await goInformer.synced).toBe(true);
    const python = pythonReader();
    const handoffsBefore = handoffs;
    let stopped = false;
    const stop = () => stopped;
    try {
      const kubectlLists: string[] = [];
      const kubectlFailures: string[] = [];
      const kubectlLoop = (async () => {
        while (!stopped) {
          const got = await kubectl(kubeconfig, ['get', 'cm', '-A', '-l', SELECTOR, '-o', 'json']);
          // Recorded, and asserted after the other clients' checks (so one run shows every problem).
          if (got.code !== 0) {
            kubectlFailures.push(got.stderr.trim().split('\n')[0]!);
            await sleep(1500);
            continue;
          }
          const listed = JSON.parse(got.stdout) as k8s.V1ConfigMapList;
          const keys = listed.items.map((cm) => key(cm.metadata!.namespace!, cm.metadata!.name!));
          expect(new Set(keys).size).toBe(keys.length); // no duplicate, even mid-move
          listed.items.forEach((cm) => expectRV(cm.metadata!.resourceVersion));
          // `kubectl get -o json` wraps the items in a List of its own (resourceVersion ""): the server's list RV is read raw.
          kubectlLists.push(await kubectlListRV());
          await sleep(1500);
        }
      })();
      const writing = writeUntil(stop);
      const moving = moveUntil(stop);
      // Awaited below; a failure before then must not go unhandled meanwhile.
      for (const task of [kubectlLoop, writing, moving]) task.catch(() => undefined);
      const churnEnds = Date.now() + CHURN_SECONDS * 1000;
      await waitUntil('the churn', async () => (Date.now() > churnEnds && handoffs - handoffsBefore >= CHURN_HANDOFFS ? true : undefined), {
        timeoutMs: 240_000,
        intervalMs: 500,
      });
      stopped = true;
      const writes = await writing;
      await moving;
      await kubectlLoop;
      const moves = handoffs - handoffsBefore;
      expect(moves).toBeGreaterThanOrEqual(CHURN_HANDOFFS);
      expect(writes).toBeGreaterThan(100);
      expect(namespaces.some((ns) => ownerOf(ns) === 'destination')).toBe(true);
      expect(namespaces.some((ns) => ownerOf(ns) === 'source')).toBe(true);

      // Nothing lost: what the owners hold is what the writers left.
      const union = await ownersHold();
      expect(sorted(union)).toEqual(sorted(expected));

      // kubectl get cm -A: exactly the union, and across successive lists the RVs never go down.
      const listed = JSON.parse(await kubectlOk(kubeconfig, ['get', 'cm', '-A', '-l', SELECTOR, '-o', 'json'])) as k8s.V1ConfigMapList;
      expect(sorted(new Map(listed.items.map((cm) => [key(cm.metadata!.namespace!, cm.metadata!.name!), cm.data?.i ?? ''])))).toEqual(sorted(union));
      kubectlLists.push(await kubectlListRV());
      kubectlLists.forEach(expectRV);
      expectNonDecreasing(kubectlLists, 'kubectl list RVs');
      expect(BigInt(kubectlLists.at(-1)!)).toBeGreaterThanOrEqual(MERGED_RV_BASE);

      // Every client converges on the union.
      await waitUntil(
        'the informers and python to hold the union',
        async () =>
          JSON.stringify(sorted(nodeInformer.view())) === JSON.stringify(sorted(union)) &&
          JSON.stringify(sorted(python.view())) === JSON.stringify(sorted(union))
            ? true
            : undefined,
        { timeoutMs: 30_000 },
      ).catch(() => undefined);
      expect(sorted(nodeInformer.view())).toEqual(sorted(union));
      expect(sorted(python.view())).toEqual(sorted(union));
      // client-go backs off after a watch error (every hand-off ends its watch with 410): its handlers show when it caught up.
      await waitUntil(
        'the client-go informer to hold the union',
        async () => (JSON.stringify(sorted(goHandlerView(goInformer.lines))) === JSON.stringify(sorted(union)) ? true : undefined),
        {
          timeoutMs: 60_000,
        },
      ).catch(() => undefined);
      const goLines = await goInformer.stop();
      // What each reader saw, kept for a failure's story.
      const dump = join(tmpdir(), `merged-reads-${RUN}`);
      writeFileSync(`${dump}-go.jsonl`, goLines.map((l) => JSON.stringify(l)).join('\n'));
      writeFileSync(`${dump}-python.jsonl`, python.lines.map((l) => JSON.stringify(l)).join('\n'));
      process.stderr.write(`merged-reads: the readers' lines are in ${dump}-*.jsonl\n`);
      expect(sorted(goView(goLines))).toEqual(sorted(union));
      await python.stop();
      await nodeInformer.stop();

      // client-go: per stream RVs, relists (lists, and WatchList watches asking for initial events).
      const goWatches = goLines.filter((l) => l.event === 'watch' && !l.error).map((l) => ({ stream: l.stream!, rv: l.rv, initial: l.initial }));
      const goEvents = goLines
        // An ERROR event carries a Status (410 after a hand-off), not an object: the stream's end, not one of its events.
        .filter((l) => l.event === 'stream' && l.type !== 'ERROR')
        .map((l) => ({ stream: l.stream!, type: l.type, key: key(l.namespace ?? '', l.name ?? ''), rv: l.rv! }));
      checkStreams(goWatches, goEvents, 'client-go');
      const goLists = goLines.filter((l) => l.event === 'list' && !l.error && !l.page).map((l) => l.rv!);
      goLists.forEach(expectRV);
      expectNonDecreasing(goLists, 'client-go list RVs');
      // One relist: a first page, or a WatchList that ended its initial events. A WatchList refused (410 from an older
      // epoch's RV, then an error) is the same relist's attempt before its fallback to a list, as client-go's reflector does.
      const listedByWatch = goWatches.filter((w) => w.initial && goEvents.some((e) => e.stream === w.stream && e.type === 'BOOKMARK'));
      const goRelists = goLists.length + listedByWatch.length;
      // python: per stream RVs, relists.
      const pyWatches = python.lines.filter((l) => l.event === 'watch').map((l) => ({ stream: l.stream!, rv: l.rv }));
      const pyEvents = python.lines
        // An ERROR event carries a Status (410 after a hand-off), not an object: the stream's end, not one of its events.
        .filter((l) => l.event === 'stream' && l.type !== 'ERROR')
        .map((l) => ({ stream: l.stream!, type: l.type, key: key(l.namespace ?? '', l.name ?? ''), rv: l.rv! }));
      checkStreams(pyWatches, pyEvents, 'python');
      const pyLists = python.lines.filter((l) => l.event === 'list').map((l) => l.rv!);
      pyLists.forEach(expectRV);
      expectNonDecreasing(pyLists, 'python list RVs');
      // client-node: its watch events after each list are those above the list's RV; they never go down.
      nodeInformer.lists.forEach((l) => expectRV(l.rv));
      expectNonDecreasing(
        nodeInformer.lists.map((l) => l.rv),
        'client-node list RVs',
      );
      nodeInformer.events.forEach((e) => expectRV(e.rv));
      for (let segment = 1; segment <= nodeInformer.lists.length; segment++) {
        const listRV = BigInt(nodeInformer.lists[segment - 1]!.rv);
        expectNonDecreasing(
          nodeInformer.events.filter((e) => e.segment === segment && BigInt(e.rv) > listRV).map((e) => e.rv),
          `client-node watch after list ${segment}`,
        );
      }
      const relists = { 'client-go': goRelists, python: pyLists.length, 'client-node': nodeInformer.lists.length };
      process.stderr.write(
        `merged-reads: ${kubectlLists.length} kubectl lists, ${kubectlFailures.length} failed; ${moves} hand-offs, ${writes} writes, ${union.size} objects; relists ${JSON.stringify(relists)}\n`,
      );
      // No relist loop: the first list, then at most one per hand-off.
      for (const count of Object.values(relists)) expect(count).toBeLessThanOrEqual(moves + 1);
      // kubectl get -A never failed while the namespaces moved (it pages with limit 500 and does not retry an expired continue token).
      expect({ lists: kubectlLists.length, failures: kubectlFailures }).toEqual({ lists: kubectlLists.length, failures: [] });
    } finally {
      stopped = true;
      // A failed check leaves no reader running (stopping twice is harmless).
      await Promise.allSettled([goInformer.stop(), python.stop(), nodeInformer.stop()]);
    }
  }, 480_000);

  it('kubectl get cm -A (no selector) shows each namespace from its owner only: no duplicate, no destination system object', async () => {
    const merged = JSON.parse(await kubectlOk(kubeconfig, ['get', 'cm', '-A', '-o', 'json'])) as k8s.V1ConfigMapList;
    const keys = merged.items.map((cm) => key(cm.metadata!.namespace!, cm.metadata!.name!));
    expect(new Set(keys).size).toBe(keys.length);
    const uids = async (cluster: KubeRestClient) =>
      new Set((await cluster.expect<{ items: k8s.V1ConfigMap[] }>('GET', '/api/v1/configmaps', [200])).body.items.map((cm) => cm.metadata!.uid!));
    const [inSource, inDestination] = [await uids(source), await uids(destination)];
    for (const cm of merged.items) {
      const ours = namespaces.includes(cm.metadata!.namespace!);
      const from = ours && ownerOf(cm.metadata!.namespace!) === 'destination' ? inDestination : inSource;
      // Each object is the owner's own (a copy has another UID), and the destination's kube-system and bridge objects never appear.
      if (!from.has(cm.metadata!.uid!)) throw new Error(`${cm.metadata!.namespace}/${cm.metadata!.name} is not its owner's object`);
    }
    const kubeSystem = (await source.expect<{ items: k8s.V1ConfigMap[] }>('GET', '/api/v1/namespaces/kube-system/configmaps', [200])).body.items;
    for (const cm of kubeSystem) expect(keys).toContain(key('kube-system', cm.metadata!.name!));
  });

  it('a watch resumed from any RV it was given misses nothing, on this replica and on a second one', async () => {
    const ca = bridge.sidecar.caBundlePem;
    const base = bridge.sidecar.server;
    const selector = `labelSelector=${encodeURIComponent(SELECTOR)}`;
    const list = await getJson<k8s.V1ConfigMapList>(base, ca, `/api/v1/configmaps?${selector}`);
    expect(list.status).toBe(200);
    const first = rawWatch(base, ca, `/api/v1/configmaps?watch=1&${selector}&resourceVersion=${list.body.metadata!.resourceVersion}`);
    const changes: string[] = [];
    for (let i = 0; i < 6; i++) {
      const namespace = namespaces[i]!; // both owners' namespaces
      const name = `resume-${i}`;
      await retrying(`create ${name}`, () =>
        core().createNamespacedConfigMap({ namespace, body: { metadata: { name, labels: { 'merged-e2e': RUN } }, data: { i: name } } }),
      );
      expected.set(key(namespace, name), name);
      changes.push(`ADDED ${key(namespace, name)}`);
    }
    await waitUntil('the six events', async () => (first.events.length >= 6 ? true : undefined), { timeoutMs: 20_000 }).catch(() => undefined);
    first.close();
    expect(first.events.map((e) => `${e.type} ${e.key}`).sort()).toEqual([...changes].sort());
    const given = [list.body.metadata!.resourceVersion!, ...first.events.map((e) => e.rv)];
    given.forEach(expectRV);
    const second = await startSecondAggregator(bridge, kubeconfigPath('destination'));
    try {
      for (const [label, at, caPem] of [
        ['this replica', base, ca],
        ['a second replica', `https://127.0.0.1:${second.port}`, bridge.bridgeCa.certPem],
      ] as const) {
        for (let i = 0; i < given.length; i++) {
          const resumed = rawWatch(at, caPem, `/api/v1/configmaps?watch=1&${selector}&resourceVersion=${given[i]}`);
          const want = first.events.slice(i).map((e) => `${e.type} ${e.key}`);
          await waitUntil(`${label}: the events after RV ${i}`, async () => (resumed.events.length >= want.length ? true : undefined), {
            timeoutMs: 10_000,
          }).catch(() => undefined);
          await sleep(300); // nothing more may come
          resumed.close();
          expect({
            label,
            from: i,
            status: resumed.status(),
            error: resumed.error()?.message,
            events: resumed.events.map((e) => `${e.type} ${e.key}`).sort(),
          }).toEqual({
            label,
            from: i,
            status: 200,
            error: undefined,
            events: [...want].sort(),
          });
        }
      }
    } finally {
      await second.close();
    }
  }, 180_000);

  it('a second replica and a restarted one present the same RVs for every object, and lists that never go back', async () => {
    const selector = `labelSelector=${encodeURIComponent(SELECTOR)}`;
    const rvs = (list: k8s.V1ConfigMapList) =>
      sorted(new Map(list.items.map((cm) => [key(cm.metadata!.namespace!, cm.metadata!.name!), cm.metadata!.resourceVersion!])));
    const primary = await getJson<k8s.V1ConfigMapList>(bridge.sidecar.server, bridge.sidecar.caBundlePem, `/api/v1/configmaps?${selector}`);
    expect(primary.status).toBe(200);
    let previous = primary.body.metadata!.resourceVersion!;
    for (const label of ['a second replica', 'a restarted replica (a new process on the persisted table)']) {
      const replica: RunningAggregator = await startSecondAggregator(bridge, kubeconfigPath('destination'));
      try {
        const listed = await getJson<k8s.V1ConfigMapList>(`https://127.0.0.1:${replica.port}`, bridge.bridgeCa.certPem, `/api/v1/configmaps?${selector}`);
        expect({ label, status: listed.status, rvs: rvs(listed.body) }).toEqual({ label, status: 200, rvs: rvs(primary.body) });
        expectRV(listed.body.metadata!.resourceVersion);
        expectNonDecreasing([previous, listed.body.metadata!.resourceVersion!], `${label}: list RV`);
        previous = listed.body.metadata!.resourceVersion!;
      } finally {
        await replica.close();
      }
    }
  }, 120_000);
});
