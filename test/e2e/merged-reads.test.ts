// Merged cluster-wide reads on the lab's two real kube-apiservers (ns-design section 3, docs/adr/0027):
// with configmaps carried by namespace shards and two namespaces owned by the destination (a routing
// table written to the aggregator's store, as a completed namespace hand-off leaves it), `kubectl get cm
// -A` through sidecar -> aggregator shows exactly the union of what the owners hold, in JSON and table
// output, paged, with selectors; merged RVs resume lists and watches; an older epoch's RV gets 410; a
// protobuf-preferring client gets JSON. The caller is a ServiceAccount allowed to read configmaps
// cluster-wide on both clusters, through its own token (source) and impersonation (destination).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { silentLog } from '../helpers/sidecar-fixtures.js';
import { startLabBridge, type LabBridge } from '../helpers/bridge-lab.js';
import { createNamespace, kubectl, kubectlOk } from '../helpers/lab-clients.js';
import { tokenKubeconfig } from '../helpers/sidecar-lab.js';
import { ConfigMapRoutingStore } from '../../lib/routing/configmap-store.js';
import { appendMergedEpoch, MERGED_RV_BASE } from '../../lib/routing/merged-rv.js';
import { beginHandoff, completeHandoff } from '../../lib/routing/routing-table.js';
import { namespaceShardKey } from '../../lib/routing/shard-hash.js';
import type { RoutingTable } from '../../lib/routing/types.js';
import { waitUntil } from '../../lib/wait-until.js';

interface Item {
  metadata: { namespace: string; name: string; uid: string; resourceVersion: string };
}
interface List {
  metadata: { resourceVersion: string; continue?: string };
  items: Item[];
}

let bridge: LabBridge;
let home: string;
/** Owned by the destination. */
let movedA: string;
let movedB: string;
/** Owned by the source. */
let stayed: string;
let token: string;
let kubeconfig: string;
let store: ConfigMapRoutingStore;
/** The merged watch's event for the destination's object, and the list RV it was watched from. */
let delivered: { event: WatchEvent; listRV: string } | undefined;
const READER = 'merged-e2e-reader';

const both = ['source', 'destination'] as const;

async function directList(cluster: 'source' | 'destination'): Promise<List> {
  return JSON.parse(await kubectlOk(cluster, ['get', '--raw', '/api/v1/configmaps'])) as List;
}

/** What the owners hold: the destination's items in the moved namespaces, the source's everywhere else. */
async function expectedUnion(): Promise<Map<string, string>> {
  const [source, destination] = [await directList('source'), await directList('destination')];
  const moved = new Set([movedA, movedB]);
  const owned = [...source.items.filter((i) => !moved.has(i.metadata.namespace)), ...destination.items.filter((i) => moved.has(i.metadata.namespace))];
  return new Map(owned.map((i) => [`${i.metadata.namespace}/${i.metadata.name}`, i.metadata.uid]));
}

function byKey(items: Item[]): Map<string, string> {
  return new Map(items.map((i) => [`${i.metadata.namespace}/${i.metadata.name}`, i.metadata.uid]));
}

/** One HTTPS call to the sidecar with the caller's token. */
function call(path: string, headers: Record<string, string> = {}): Promise<{ status: number; contentType: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(callOptions(path, headers), (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

function callOptions(path: string, headers: Record<string, string>): RequestOptions {
  const url = new URL(path, bridge.sidecar.server);
  return {
    hostname: url.hostname,
    port: url.port,
    path: `${url.pathname}${url.search}`,
    ca: bridge.sidecar.caBundlePem,
    agent: false,
    headers: { authorization: `Bearer ${token}`, ...headers },
  };
}

interface WatchEvent {
  type: string;
  object: Item & { code?: number; data?: Record<string, string> };
}

/** A watch through the sidecar, its events collected as they arrive. */
async function openWatch(query: string): Promise<{ events: WatchEvent[]; res: IncomingMessage; close(): void }> {
  return openWatchAt(`/api/v1/configmaps?watch=1&allowWatchBookmarks=false&${query}`);
}

async function openWatchAt(path: string): Promise<{ events: WatchEvent[]; res: IncomingMessage; close(): void }> {
  const events: WatchEvent[] = [];
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(callOptions(path, {}), resolve);
    req.on('error', reject);
    req.end();
  });
  let pending = '';
  res.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) if (line.trim()) events.push(JSON.parse(line) as WatchEvent);
  });
  return { events, res, close: () => res.destroy() };
}

async function openNamespacedWatch(namespace: string, query: string): Promise<{ events: WatchEvent[]; close(): void }> {
  return openWatchAt(`/api/v1/namespaces/${namespace}/configmaps?watch=1&${query}`);
}

async function writeTable(change: (table: RoutingTable) => RoutingTable): Promise<RoutingTable> {
  const { table, version } = await store.load();
  const next = change(table);
  await store.replace(next, version);
  return next;
}

async function revision(cluster: 'source' | 'destination'): Promise<string> {
  return (await directList(cluster)).metadata.resourceVersion;
}

const createCm = (cluster: 'source' | 'destination', ns: string, name: string, labels = '') =>
  kubectlOk(cluster, ['-n', ns, 'create', 'configmap', name, '--from-literal=k=v']).then(() =>
    labels ? kubectlOk(cluster, ['-n', ns, 'label', 'configmap', name, labels]) : '',
  );

beforeAll(async () => {
  home = await createNamespace('source', 'merged-home');
  [movedA, movedB, stayed] = [
    await createNamespace('source', 'merged-a'),
    await createNamespace('source', 'merged-b'),
    await createNamespace('source', 'merged-c'),
  ];
  for (const ns of [home, movedA, movedB, stayed]) await kubectl('destination', ['create', 'namespace', ns]);
  for (const cluster of both) {
    await kubectlOk(cluster, ['create', 'clusterrole', READER, '--verb=get,list,watch', '--resource=configmaps']);
    await kubectlOk(cluster, ['create', 'clusterrolebinding', READER, `--clusterrole=${READER}`, `--serviceaccount=${home}:reader`]);
  }
  await kubectlOk('source', ['-n', home, 'create', 'serviceaccount', 'reader']);
  token = (await kubectlOk('source', ['-n', home, 'create', 'token', 'reader', '--duration=1h'])).trim();
  // The owners' objects, and the copies and system objects that must not show.
  await createCm('destination', movedA, 'a1', 'merged-e2e=yes');
  await createCm('destination', movedA, 'a2');
  await createCm('destination', movedB, 'b1', 'merged-e2e=yes');
  await createCm('source', movedA, 'a1', 'merged-e2e=yes'); // the source's stale copy of a moved namespace
  await createCm('source', stayed, 'c1', 'merged-e2e=yes');
  await createCm('source', stayed, 'c2');
  await createCm('destination', stayed, 'c1', 'merged-e2e=yes'); // the destination's copy of a source namespace
  await createCm('destination', 'kube-system', `merged-e2e-dest-only-${home}`, 'merged-e2e=yes'); // a destination system object
  // Configmaps stay out of the synchronizer: the test sets what each side holds.
  bridge = await startLabBridge({ namespace: home, shards: ['secrets'] });
  kubeconfig = tokenKubeconfig(bridge.sidecar.dir, 'merged', bridge.sidecar.server, bridge.sidecar.caBundlePem, token, home);
  store = new ConfigMapRoutingStore(bridge.destination, silentLog);
  const [s, d] = [await revision('source'), await revision('destination')];
  await writeTable((table) => {
    let next: RoutingTable = { ...table, namespaceTypes: ['configmaps'] };
    for (const ns of [movedA, movedB])
      next = completeHandoff(beginHandoff(next, namespaceShardKey(ns), 'destination', new Date()), namespaceShardKey(ns), s, new Date());
    return appendMergedEpoch(next, s, d, new Date());
  });
  await waitUntil('the aggregator merges configmaps', async () => {
    const rv = (JSON.parse((await call('/api/v1/configmaps?limit=1')).body) as List).metadata?.resourceVersion;
    return rv && BigInt(rv) >= MERGED_RV_BASE ? true : undefined;
  });
}, 240_000);

afterAll(async () => {
  await bridge?.close();
  for (const cluster of both) {
    await kubectl(cluster, ['delete', 'clusterrolebinding', READER, '--ignore-not-found']);
    await kubectl(cluster, ['delete', 'clusterrole', READER, '--ignore-not-found']);
    await kubectl(cluster, ['delete', 'namespace', home, movedA, movedB, stayed, '--wait=false', '--ignore-not-found']);
  }
  await kubectl('destination', ['-n', 'kube-system', 'delete', 'configmap', `merged-e2e-dest-only-${home}`, '--ignore-not-found']);
}, 120_000);

describe('merged cluster-wide reads on two real kube-apiservers', () => {
  it('kubectl get cm -A -o json shows exactly the union of what the owners hold (no duplicate, no copy, no destination system object)', async () => {
    const expected = await expectedUnion();
    const listed = JSON.parse(await kubectlOk(kubeconfig, ['get', 'cm', '-A', '-o', 'json'])) as List;
    const keys = listed.items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(byKey(listed.items)).toEqual(expected);
    expect(keys).toContain(`${movedA}/a1`);
    expect(keys).toContain(`${stayed}/c1`);
    expect(keys).not.toContain(`kube-system/merged-e2e-dest-only-${home}`);
    // kubectl prints its own List (no RV): the list's merged RV, read raw.
    const raw = JSON.parse((await call('/api/v1/configmaps')).body) as List;
    expect(byKey(raw.items)).toEqual(expected);
    const rv = BigInt(raw.metadata.resourceVersion);
    expect(rv >= MERGED_RV_BASE && rv < 2n ** 63n).toBe(true);
  });

  it('the default table output lists the same namespaces and names, also in chunks', async () => {
    const expected = [...(await expectedUnion()).keys()].sort();
    for (const extra of [[], ['--chunk-size=3']]) {
      const out = await kubectlOk(kubeconfig, ['get', 'cm', '-A', '--no-headers', ...extra]);
      const rows = out
        .trim()
        .split('\n')
        .map((line) => line.split(/\s+/).slice(0, 2).join('/'));
      expect(rows.sort()).toEqual(expected);
    }
    const header = (await kubectlOk(kubeconfig, ['get', 'cm', '-A'])).split('\n')[0];
    expect(header).toMatch(/^NAMESPACE\s+NAME\s+DATA\s+AGE/);
  });

  it('--chunk-size pages through both sides under one merged RV, pages no larger than the limit', async () => {
    const expected = await expectedUnion();
    const paged = JSON.parse(await kubectlOk(kubeconfig, ['get', 'cm', '-A', '-o', 'json', '--chunk-size=2'])) as List;
    expect(byKey(paged.items)).toEqual(expected);
    const pages: List[] = [];
    let next = '';
    do {
      const page = JSON.parse((await call(`/api/v1/configmaps?limit=2${next ? `&continue=${encodeURIComponent(next)}` : ''}`)).body) as List;
      pages.push(page);
      next = page.metadata.continue ?? '';
    } while (next && pages.length < 100);
    expect(pages.every((p) => p.items.length <= 2)).toBe(true);
    expect(new Set(pages.map((p) => p.metadata.resourceVersion)).size).toBe(1);
    expect(byKey(pages.flatMap((p) => p.items))).toEqual(expected);
  });

  it('label and field selectors reach both sides; the owner filter still applies', async () => {
    const labelled = JSON.parse(await kubectlOk(kubeconfig, ['get', 'cm', '-A', '-l', 'merged-e2e=yes', '-o', 'json'])) as List;
    expect(labelled.items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`).sort()).toEqual([`${movedA}/a1`, `${movedB}/b1`, `${stayed}/c1`].sort());
    const destinationA1 = (await directList('destination')).items.find((i) => i.metadata.namespace === movedA && i.metadata.name === 'a1')!;
    expect(labelled.items.find((i) => i.metadata.namespace === movedA)!.metadata.uid).toBe(destinationA1.metadata.uid);
    const inStayed = JSON.parse(await kubectlOk(kubeconfig, ['get', 'cm', '-A', '--field-selector', `metadata.namespace=${stayed}`, '-o', 'json'])) as List;
    const sourceStayed = (await directList('source')).items.filter((i) => i.metadata.namespace === stayed);
    expect(byKey(inStayed.items)).toEqual(byKey(sourceStayed));
  });

  it('resourceVersion=0 and resourceVersionMatch=NotOlderThan with a merged RV answer the union at or after it', async () => {
    const expected = await expectedUnion();
    const any = JSON.parse(await kubectlOk(kubeconfig, ['get', '--raw', '/api/v1/configmaps?resourceVersion=0'])) as List;
    expect(byKey(any.items)).toEqual(expected);
    const rv = any.metadata.resourceVersion;
    expect(BigInt(rv) >= MERGED_RV_BASE).toBe(true);
    const notOlder = JSON.parse(
      await kubectlOk(kubeconfig, ['get', '--raw', `/api/v1/configmaps?resourceVersion=${rv}&resourceVersionMatch=NotOlderThan`]),
    ) as List;
    expect(BigInt(notOlder.metadata.resourceVersion) >= BigInt(rv)).toBe(true);
    expect(byKey(notOlder.items)).toEqual(expected);
  });

  it('a protobuf-preferring Accept is answered with JSON; protobuf alone gets 406', async () => {
    const answered = await call('/api/v1/configmaps', { accept: 'application/vnd.kubernetes.protobuf, application/json' });
    expect(answered.status).toBe(200);
    expect(answered.contentType).toMatch(/^application\/json/);
    expect((JSON.parse(answered.body) as List).items.length).toBeGreaterThan(0);
    expect((await call('/api/v1/configmaps', { accept: 'application/vnd.kubernetes.protobuf' })).status).toBe(406);
  });

  it('a watch sees an event from each side with non-decreasing decimal RVs, and resumes from a given RV without missing or repeating', async () => {
    const listed = JSON.parse((await call('/api/v1/configmaps')).body) as List;
    const watch = await openWatch(`resourceVersion=${listed.metadata.resourceVersion}`);
    try {
      expect(watch.res.statusCode).toBe(200);
      await createCm('source', stayed, 'w-source');
      await createCm('destination', stayed, 'w-copy'); // a copy on the destination: not in the merged stream
      await createCm('destination', movedA, 'w-destination');
      await waitUntil('both events arrive', async () => (watch.events.length >= 2 ? true : undefined));
      const names = watch.events.map((e) => `${e.type} ${e.object.metadata.namespace}/${e.object.metadata.name}`);
      expect(names).toEqual([`ADDED ${stayed}/w-source`, `ADDED ${movedA}/w-destination`]);
      const rvs = watch.events.map((e) => e.object.metadata.resourceVersion);
      for (const rv of rvs) expect(rv).toMatch(/^\d+$/);
      expect(BigInt(rvs[0]!) <= BigInt(rvs[1]!)).toBe(true);
      expect(BigInt(rvs[0]!) > BigInt(listed.metadata.resourceVersion)).toBe(true);
      expect(BigInt(rvs[1]!) < 2n ** 63n).toBe(true);
      // Resumed from the first event's RV: exactly the second event.
      const resumed = await openWatch(`resourceVersion=${rvs[0]}`);
      try {
        await waitUntil('the resumed watch delivers', async () => (resumed.events.length >= 1 ? true : undefined));
        await new Promise((r) => setTimeout(r, 1500));
        expect(resumed.events.map((e) => `${e.object.metadata.namespace}/${e.object.metadata.name}`)).toEqual([`${movedA}/w-destination`]);
        expect(resumed.events[0]!.object.metadata.resourceVersion).toBe(rvs[1]);
        delivered = { event: watch.events[1]!, listRV: listed.metadata.resourceVersion };
      } finally {
        resumed.close();
      }
    } finally {
      watch.close();
    }
  });

  it("a merged RV sent back on namespaced requests decodes to the namespace owner's revision: a namespaced watch from the list's RV, an update from the event's object", async () => {
    const { event, listRV } = delivered!;
    const watch = await openNamespacedWatch(movedA, `resourceVersion=${listRV}`);
    try {
      await waitUntil('the namespaced watch delivers', async () => (watch.events.length >= 1 ? true : undefined));
      expect(watch.events[0]!.object.metadata.name).toBe('w-destination');
    } finally {
      watch.close();
    }
    // As a controller with a cluster-wide informer does: the cached object (its RV the merged position) written back.
    await kubectlOk('destination', ['-n', movedA, 'create', 'rolebinding', 'reader-edit', '--clusterrole=edit', `--serviceaccount=${home}:reader`]);
    const updated = { ...event.object, data: { k: 'updated' } };
    const put = await kubectl(kubeconfig, ['replace', '-f', '-'], JSON.stringify(updated));
    expect(put.stderr).toBe('');
    expect(await kubectlOk('destination', ['-n', movedA, 'get', 'cm', 'w-destination', '-o', 'jsonpath={.data.k}'])).toBe('updated');
    // The same write again from the now stale position: a conflict, as kube-apiserver answers a stale RV.
    const stale = await kubectl(kubeconfig, ['replace', '-f', '-'], JSON.stringify({ ...event.object, data: { k: 'stale' } }));
    expect(stale.stderr).toMatch(/Conflict|the object has been modified/);
  });

  it("a WatchList (sendInitialEvents) streams exactly the union, then one initial-events-end bookmark after both sides' ", async () => {
    const expected = await expectedUnion();
    const watch = await openWatchAt('/api/v1/configmaps?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true');
    try {
      const isEnd = (e: WatchEvent) =>
        e.type === 'BOOKMARK' && (e.object.metadata as { annotations?: Record<string, string> }).annotations?.['k8s.io/initial-events-end'] === 'true';
      await waitUntil('the initial-events-end bookmark', async () => (watch.events.some(isEnd) ? true : undefined));
      await new Promise((r) => setTimeout(r, 1000));
      const end = watch.events.findIndex(isEnd);
      const initial = watch.events.slice(0, end).filter((e) => e.type === 'ADDED');
      expect(byKey(initial.map((e) => e.object))).toEqual(expected);
      expect(initial.length).toBe(expected.size);
      expect(watch.events.filter(isEnd)).toHaveLength(1);
      const rvs = watch.events.slice(0, end + 1).map((e) => BigInt(e.object.metadata.resourceVersion));
      expect(rvs.every((rv, i) => i === 0 || rv >= rvs[i - 1]!)).toBe(true);
    } finally {
      watch.close();
    }
  });

  it('a merged watch ends when a namespace changes owner (the table says so), so the client relists rather than miss the moved objects', async () => {
    const listed = JSON.parse((await call('/api/v1/configmaps')).body) as List;
    const watch = await openWatch(`resourceVersion=${listed.metadata.resourceVersion}`);
    const ended = new Promise<void>((resolve) => watch.res.once('end', resolve).once('close', resolve));
    try {
      expect(watch.res.statusCode).toBe(200);
      let open = true;
      void ended.then(() => (open = false));
      await new Promise((r) => setTimeout(r, 1000));
      expect(open).toBe(true);
      await writeTable((t) => beginHandoff(t, namespaceShardKey(stayed), 'destination', new Date()));
      await waitUntil('the merged watch ends', async () => (open ? undefined : true), { timeoutMs: 30_000 });
    } finally {
      watch.close();
    }
  });

  it("answers 410 for an older merged epoch's RV, to a list and to a watch", async () => {
    const old = (JSON.parse((await call('/api/v1/configmaps')).body) as List).metadata.resourceVersion;
    const [s, d] = [await revision('source'), await revision('destination')];
    const table = await writeTable((t) => appendMergedEpoch(t, s, d, new Date()));
    const start = MERGED_RV_BASE + BigInt(table.merged!.epochs.at(-1)!.offset);
    await waitUntil('the aggregator takes the new epoch', async () => {
      const rv = (JSON.parse((await call('/api/v1/configmaps?limit=1')).body) as List).metadata.resourceVersion;
      return BigInt(rv) >= start ? true : undefined;
    });
    const listed = await call(`/api/v1/configmaps?resourceVersion=${old}`);
    expect(listed.status).toBe(410);
    expect(JSON.parse(listed.body)).toMatchObject({ kind: 'Status', reason: 'Expired', code: 410 });
    const watched = await call(`/api/v1/configmaps?watch=1&resourceVersion=${old}`);
    expect(watched.status).toBe(200);
    expect(JSON.parse(watched.body.trim())).toMatchObject({ type: 'ERROR', object: { code: 410, reason: 'Expired' } });
  });
});
