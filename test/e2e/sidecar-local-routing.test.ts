// Local routing on the lab's two real clusters (DESIGN.md section 3, docs/adr/0011): a sidecar sends
// what the source serves unchanged straight to the source API server, never through the aggregator;
// a sidecar holding a stale routing table after configmaps moved to the destination has its write
// refused by the source's fence, retried once through the aggregator and executed exactly once, and
// reads the destination's objects afterwards. Once configmaps move back, the sidecar serves them locally
// again with the epoch's RV offset: reads, writes and watches continue the RVs the aggregator presented,
// an older epoch's RV gets the aggregator's own 410 or 409, and a local watch ends when the next hand-off
// starts. A lab of its own: the move fences the source.
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { stopPrivateLab } from '../helpers/private-lab.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { issueSidecarClientCert } from '../../certs/bridge-certs.js';
import { waitUntil } from '../../lib/wait-until.js';
import type { TableFetch } from '../../sidecar/routing-table-client.js';
import { startLabBridge, type LabBridge } from '../helpers/bridge-lab.js';
import { createNamespace, kubectl, kubectlOk, waitForRoleBindingsOnDestination } from '../helpers/lab-clients.js';
import { serviceAccountToken, startLabSidecar, tokenKubeconfig, type LabSidecar } from '../helpers/sidecar-lab.js';

let bridge: LabBridge;
let namespace: string;
let token: string;
/** Local routing with the default bound: learns every change at once. */
let fresh: LabSidecar;
/** Local routing whose long poll is held back on demand (a sidecar cut off from table changes) and a bound long enough to trust the old table. */
let stale: LabSidecar;
let freshKubeconfig: string;
let staleKubeconfig: string;
let holdLongPolls: (() => void) | undefined;
let longPollsHeld: Promise<void> = Promise.resolve();

/** Lets a long poll's answer through only when not held; immediate fetches (a fenced write's refresh) always pass. */
const holdable =
  (fetch: TableFetch): TableFetch =>
  async (path, timeoutMs) => {
    const answer = await fetch(path, timeoutMs);
    if (/waitSeconds=(?!0(&|$))/.test(path)) await longPollsHeld;
    return answer;
  };

async function metricsText(url: string): Promise<string> {
  const res = await fetch(url);
  return res.text();
}

/** The sum of a counter family's samples whose labels contain every given pair. */
function counter(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

const aggregatorRequests = async () =>
  counter(await metricsText(`http://127.0.0.1:${bridge.aggregator.opsPort}/metrics`), 'cluster_bridge_aggregator_requests_total');
const sidecarMetrics = (s: LabSidecar) => s.sidecar.metrics.registry.metrics();

async function startLocalRoutingSidecar(extraEnv: Record<string, string>, wrap?: (fetch: TableFetch) => TableFetch): Promise<LabSidecar> {
  const sidecar = await startLabSidecar({
    upstream: bridge.aggregatorUrl,
    upstreamCaPem: bridge.bridgeCa.certPem,
    upstreamClient: await issueSidecarClientCert(bridge.issuers.client, { namespace }),
    podNamespace: namespace,
    extraEnv: { BRIDGE_LOCAL_ROUTING: 'on', ...extraEnv },
    sidecarOptions: wrap ? { wrapTableFetch: wrap } : {},
  });
  await waitUntil('the sidecar to hold a fresh routing table', async () => (sidecar.sidecar.routingTable?.fresh ? true : undefined));
  return sidecar;
}

beforeAll(async () => {
  namespace = await createNamespace('source', 'local-routing');
  token = await serviceAccountToken(namespace);
  bridge = await startLabBridge({ namespace });
  fresh = await startLocalRoutingSidecar({});
  stale = await startLocalRoutingSidecar({ BRIDGE_ROUTING_TABLE_MAX_AGE_SECONDS: '600' }, holdable);
  freshKubeconfig = tokenKubeconfig(fresh.dir, 'fresh', fresh.server, fresh.caBundlePem, token, namespace);
  staleKubeconfig = tokenKubeconfig(stale.dir, 'stale', stale.server, stale.caBundlePem, token, namespace);
  await waitForRoleBindingsOnDestination(namespace);
}, 240_000);

afterAll(async () => {
  holdLongPolls?.();
  await fresh?.sidecar.shutdown(1000);
  await stale?.sidecar.shutdown(1000);
  await bridge?.close();
  await stopPrivateLab();
}, 120_000);

describe('local routing in the sidecar, on the lab', () => {
  it('sends source-owned requests straight to the source: none reaches the aggregator', async () => {
    // Under load the first table can arrive after beforeAll: until then everything goes to the aggregator (no-table).
    await waitUntil('the sidecar to hold a fresh routing table', async () => fresh.sidecar.routingTable!.view()?.fresh || undefined);
    const aggregatorBefore = await aggregatorRequests();
    const localBefore = counter(await sidecarMetrics(fresh), 'cluster_bridge_sidecar_upstream_choices_total', { upstream: 'local' });
    const via = (args: string[], input?: string) => kubectlOk(freshKubeconfig, ['-n', namespace, ...args], input);
    await via(['create', 'configmap', 'local-1', '--from-literal=k=v']);
    await via(['patch', 'configmap', 'local-1', '--type=merge', '-p', '{"data":{"k":"v2"}}']);
    expect(await via(['get', 'configmap', 'local-1', '-o', 'jsonpath={.data.k}'])).toBe('v2');
    await via(['get', 'configmaps,pods,events']);
    await via(['version']);
    await via(['api-resources']);
    // Exactly the source's object: same resourceVersion as a direct read.
    const rvViaSidecar = await via(['get', 'configmap', 'local-1', '-o', 'jsonpath={.metadata.resourceVersion}']);
    expect(rvViaSidecar).toBe(await kubectlOk('source', ['-n', namespace, 'get', 'configmap', 'local-1', '-o', 'jsonpath={.metadata.resourceVersion}']));

    expect(await aggregatorRequests()).toBe(aggregatorBefore);
    const after = await sidecarMetrics(fresh);
    expect(counter(after, 'cluster_bridge_sidecar_upstream_choices_total', { upstream: 'local' })).toBeGreaterThanOrEqual(localBefore + 7);
    expect(counter(after, 'cluster_bridge_sidecar_upstream_choices_total', { upstream: 'upstream' })).toBe(0);
    expect(counter(after, 'cluster_bridge_sidecar_upstream_choices_total', { reason: 'source-owned-shard' })).toBeGreaterThanOrEqual(4);
    expect(counter(after, 'cluster_bridge_sidecar_requests_total', { reason: 'selected-upstream' })).toBe(0);
  });

  it('after configmaps move to the destination, a sidecar with a stale table ends consistent: its write is fenced, retried once, executed once', async () => {
    const generationBefore = bridge.aggregator.routing.table.generation;
    longPollsHeld = new Promise<void>((resolve) => (holdLongPolls = resolve));
    const before = await kubectlOk('source', ['-n', namespace, 'get', 'configmap', 'local-1', '-o', 'jsonpath={.metadata.resourceVersion}']);

    const moved = await bridge.aggregator.handoff!.changeOwner('configmaps', 'destination', 'e2e local routing');
    const offset = BigInt(moved.epoch.offset);
    expect(stale.sidecar.routingTable!.routing.table.generation).toBe(generationBefore); // it has not learnt of the move
    await waitUntil('the fresh sidecar to learn of the move', async () =>
      fresh.sidecar.routingTable!.routing.table.generation === bridge.aggregator.routing.table.generation ? true : undefined,
    );

    // The stale sidecar still reads the source (the bounded window of docs/adr/0011): an epoch-0 RV.
    const staleRead = await kubectlOk(staleKubeconfig, ['-n', namespace, 'get', 'configmap', 'local-1', '-o', 'jsonpath={.metadata.resourceVersion}']);
    expect(BigInt(staleRead)).toBeGreaterThanOrEqual(BigInt(before));
    expect(BigInt(staleRead)).toBeLessThanOrEqual(offset);

    const staleMetricsBefore = await sidecarMetrics(stale);
    const aggregatorBefore = await aggregatorRequests();
    const create = JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { generateName: 'once-', labels: { 'e2e-local-routing': 'once' } },
      data: { k: 'once' },
    });
    const created = await kubectlOk(staleKubeconfig, ['-n', namespace, 'create', '-f', '-', '-o', 'jsonpath={.metadata.name}'], create);
    expect(created).toMatch(/^once-/);

    const staleMetrics = await sidecarMetrics(stale);
    const delta = (name: string, labels: Record<string, string> = {}) => counter(staleMetrics, name, labels) - counter(staleMetricsBefore, name, labels);
    expect(delta('cluster_bridge_sidecar_fence_retries_total')).toBe(1);
    expect(delta('cluster_bridge_sidecar_upstream_choices_total', { upstream: 'local', reason: 'source-owned-shard' })).toBe(1);
    expect(delta('cluster_bridge_sidecar_upstream_choices_total', { upstream: 'upstream', reason: 'fence-retry' })).toBe(1);
    expect(await aggregatorRequests()).toBe(aggregatorBefore + 1);
    // The refresh after the fenced write brought the sidecar up to date, though its long poll is still held.
    expect(stale.sidecar.routingTable!.routing.table.generation).toBe(bridge.aggregator.routing.table.generation);

    // Executed exactly once: one object in the destination (the owner), and once mirrored, one in the source.
    const selector = ['-n', namespace, 'get', 'configmaps', '-l', 'e2e-local-routing=once', '-o', 'jsonpath={.items[*].metadata.name}'];
    expect((await kubectlOk('destination', selector)).trim().split(/\s+/)).toEqual([created]);
    await waitUntil('the created configmap mirrored to the source', async () => ((await kubectlOk('source', selector)).trim() ? true : undefined));
    expect((await kubectlOk('source', selector)).trim().split(/\s+/)).toEqual([created]);

    // Reads through it are now the destination's, in the new epoch: RV = destination RV + offset, above what it showed before.
    for (const name of [created, 'local-1']) {
      const viaSidecar = await kubectlOk(staleKubeconfig, ['-n', namespace, 'get', 'configmap', name, '-o', 'jsonpath={.metadata.resourceVersion}']);
      const inDestination = await kubectlOk('destination', ['-n', namespace, 'get', 'configmap', name, '-o', 'jsonpath={.metadata.resourceVersion}']);
      expect(BigInt(viaSidecar)).toBe(BigInt(inDestination) + offset);
      expect(BigInt(viaSidecar)).toBeGreaterThan(BigInt(staleRead));
    }
    const listed = await kubectlOk(staleKubeconfig, [
      '-n',
      namespace,
      'get',
      'configmaps',
      '-l',
      'e2e-local-routing=once',
      '-o',
      'jsonpath={.items[*].data.k}',
    ]);
    expect(listed.trim()).toBe('once');
    // A direct write to the source is still refused by the fence (the retry did not lift it).
    const direct = await kubectl('source', ['-n', namespace, 'create', 'configmap', 'direct-after', '--from-literal=k=v']);
    expect(direct.code).not.toBe(0);
    expect(direct.stderr).toContain('served by the destination cluster');
    holdLongPolls!();
  });

  it('after configmaps move back to the source, reads, writes and watches go local again, continuing the RVs the aggregator presented', async () => {
    const viaFresh = (args: string[], input?: string) => kubectlOk(staleKubeconfig, ['-n', namespace, ...args], input);
    const rvOf = (name: string) => viaFresh(['get', 'configmap', name, '-o', 'jsonpath={.metadata.resourceVersion}']);
    // An RV of the destination's epoch, as the aggregator presented it while the destination owned configmaps.
    const destinationEpochRV = await rvOf('local-1');
    const listed = await rawCall(stale.server, stale.caBundlePem, 'GET', `/api/v1/namespaces/${namespace}/configmaps`);
    const destinationEpochListRV = (JSON.parse(listed.body) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;

    const back = await bridge.aggregator.handoff!.changeOwner('configmaps', 'source', 'e2e local routing: back to the source');
    const offset = BigInt(back.epoch.offset);
    // The sidecar with the long bound (its long polls flow again): on this shared machine a long poll can come back later than
    // the default bound, and a table gone stale for a moment would send calls to the aggregator (table-stale).
    await waitUntil('the sidecar to learn of the move back', async () =>
      stale.sidecar.routingTable!.routing.table.generation === bridge.aggregator.routing.table.generation ? true : undefined,
    );
    const aggregatorBefore = await aggregatorRequests();
    const metricsBefore = await sidecarMetrics(stale);

    // Reads: the source's RV plus the epoch's offset, above every RV presented before.
    const readRV = await rvOf('local-1');
    const sourceRV = await kubectlOk('source', ['-n', namespace, 'get', 'configmap', 'local-1', '-o', 'jsonpath={.metadata.resourceVersion}']);
    expect(BigInt(readRV)).toBe(BigInt(sourceRV) + offset);
    expect(BigInt(readRV)).toBeGreaterThan(BigInt(destinationEpochRV));

    // Writes: a patch, a create, and an update carrying the fresh RV just read (kubectl replace sends it back). All JSON:
    // `kubectl create configmap` sends protobuf, which goes to the aggregator until the sidecar rewrites protobuf bodies.
    await viaFresh(['patch', 'configmap', 'local-1', '--type=merge', '-p', '{"data":{"k":"back"}}']);
    await viaFresh(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'local-back' }, data: { k: 'v' } }));
    const current = JSON.parse(await viaFresh(['get', 'configmap', 'local-1', '-o', 'json'])) as {
      metadata: { resourceVersion: string };
      data: Record<string, string>;
    };
    const replaced = await viaFresh(
      ['replace', '-f', '-', '-o', 'jsonpath={.metadata.resourceVersion}'],
      JSON.stringify({ ...current, data: { k: 'replaced' } }),
    );
    expect(BigInt(replaced)).toBeGreaterThan(BigInt(current.metadata.resourceVersion));
    expect(await kubectlOk('source', ['-n', namespace, 'get', 'configmap', 'local-1', '-o', 'jsonpath={.data.k}'])).toBe('replaced');
    const afterWrite = await kubectlOk('source', ['-n', namespace, 'get', 'configmap', 'local-1', '-o', 'jsonpath={.metadata.resourceVersion}']);
    expect(BigInt(replaced)).toBe(BigInt(afterWrite) + offset);

    // An RV of the destination's epoch: 410 on a list (on a watch, as kube-apiserver: 200 and an ERROR event carrying the 410), 409 as
    // an update precondition; the same bytes as the aggregator's.
    const oldEpochCalls: Array<[string, string, string | undefined, number]> = [
      ['GET', `/api/v1/namespaces/${namespace}/configmaps?resourceVersion=${destinationEpochListRV}`, undefined, 410],
      ['GET', `/api/v1/namespaces/${namespace}/configmaps?watch=true&resourceVersion=${destinationEpochListRV}`, undefined, 200],
      [
        'PUT',
        `/api/v1/namespaces/${namespace}/configmaps/local-1`,
        JSON.stringify({ ...current, metadata: { ...current.metadata, resourceVersion: destinationEpochRV } }),
        409,
      ],
    ];
    const refusals = [];
    for (const [method, path, body, code] of oldEpochCalls) {
      const local = await rawCall(stale.server, stale.caBundlePem, method, path, body);
      expect([local.status, local.body]).toEqual([code, expect.stringContaining('"kind":"Status"')]);
      refusals.push(local);
    }

    // A watch opened locally delivers the source's events at source RV + offset.
    const watch = await openWatch(stale, `/api/v1/namespaces/${namespace}/configmaps?watch=true&resourceVersion=${replaced}`);
    await viaFresh(['patch', 'configmap', 'local-1', '--type=merge', '-p', '{"data":{"k":"watched"}}']);
    const event = await watch.next((e) => e.object.data?.k === 'watched');
    const watchedSourceRV = await kubectlOk('source', ['-n', namespace, 'get', 'configmap', 'local-1', '-o', 'jsonpath={.metadata.resourceVersion}']);
    expect(BigInt(event.object.metadata.resourceVersion)).toBe(BigInt(watchedSourceRV) + offset);

    const metrics = await sidecarMetrics(stale);
    const delta = (labels: Record<string, string>) =>
      counter(metrics, 'cluster_bridge_sidecar_upstream_choices_total', labels) -
      counter(metricsBefore, 'cluster_bridge_sidecar_upstream_choices_total', labels);
    // Reads (an RV read, a get -o json), writes (two patches, a create), the two refused reads, the watch.
    expect(delta({ upstream: 'local', reason: 'source-owned-offset' })).toBeGreaterThanOrEqual(8);
    // The two updates (kubectl replace, the older epoch's PUT) go to the aggregator for its identity step (an update replaces the
    // annotations, and the stored marks must be put back: sidecar/offset-rewrite.ts); every other call stays local.
    expect([delta({ upstream: 'upstream' }), delta({ upstream: 'upstream', reason: 'offset-identity-step' })]).toEqual([2, 2]);
    // Of these the aggregator proxies the replace; the older epoch's PUT it answers 409 itself (not a proxied request).
    expect(await aggregatorRequests()).toBe(aggregatorBefore + 1);
    // The sidecar's refusals are the aggregator's answers to the same calls, byte for byte.
    for (const [i, [method, path, body]] of oldEpochCalls.entries()) {
      const direct = await rawCall(bridge.aggregatorUrl, bridge.bridgeCa.certPem, method, path, body);
      expect([direct.status, direct.body, direct.contentType]).toEqual([refusals[i]!.status, refusals[i]!.body, refusals[i]!.contentType]);
    }

    // The local watch ends once a hand-off of configmaps starts.
    const moving = bridge.aggregator.handoff!.changeOwner('configmaps', 'destination', 'e2e local routing: away again');
    await watch.ended; // the test times out if the watch stays open
    await moving;
  });
});

/** One call with the workload's token, whole: status, body, content type. */
function rawCall(base: string, caPem: string, method: string, path: string, body?: string): Promise<{ status: number; body: string; contentType: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
    if (body) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
    const req = request(`${base}${path}`, { method, ca: caPem, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, contentType: res.headers['content-type'] ?? '' }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface WatchEvent {
  type: string;
  object: { metadata: { name: string; resourceVersion: string }; data?: Record<string, string> };
}

/** A watch through a sidecar: its events as they arrive, and when it ends. */
async function openWatch(s: LabSidecar, path: string): Promise<{ next(match: (e: WatchEvent) => boolean): Promise<WatchEvent>; ended: Promise<void> }> {
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(`${s.server}${path}`, { ca: s.caBundlePem, headers: { authorization: `Bearer ${token}` }, agent: false }, resolve);
    req.on('error', reject);
    req.end();
  });
  expect(res.statusCode).toBe(200);
  const events: WatchEvent[] = [];
  let buffered = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      events.push(JSON.parse(buffered.slice(0, nl)) as WatchEvent);
      buffered = buffered.slice(nl + 1);
    }
  });
  const ended = new Promise<void>((resolve) => res.once('end', resolve).once('close', resolve));
  return {
    next: (match) => waitUntil('a watch event', async () => events.find(match)),
    ended,
  };
}
