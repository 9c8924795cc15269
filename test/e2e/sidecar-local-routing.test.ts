// Local routing on the lab's two real clusters (DESIGN.md section 3, docs/adr/0011): a sidecar sends
// what the source serves unchanged straight to the source API server, never through the aggregator;
// a sidecar holding a stale routing table after configmaps moved to the destination has its write
// refused by the source's fence, retried once through the aggregator and executed exactly once, and
// reads the destination's objects afterwards. A lab of its own: the move fences the source.
import { stopPrivateLab } from '../helpers/private-lab.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { issueSidecarClientCert } from '../../certs/bridge-certs.js';
import { waitUntil } from '../../lib/wait-until.js';
import type { TableFetch } from '../../sidecar/routing-table-client.js';
import { startLabBridge, type LabBridge } from '../helpers/bridge-lab.js';
import { createNamespace, kubectl, kubectlOk } from '../helpers/lab-clients.js';
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
    upstreamClient: await issueSidecarClientCert(bridge.bridgeCa, { namespace }),
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
  // The workload's RoleBinding must be mirrored before the destination serves it (impersonation).
  await waitUntil('the RoleBinding mirrored to the destination', async () =>
    (await kubectl('destination', ['-n', namespace, 'get', 'rolebinding', '-o', 'name'])).stdout.trim() ? true : undefined,
  );
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
});
