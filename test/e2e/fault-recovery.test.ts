// Faults and the way back (issue 21), on the lab with the components `bridgectl lab install` runs:
// the synchronizer survives its destination API server stopped (SIGSTOP) for 10 s and converges on its
// own; `aggregator move` refuses an unknown shard and one a BridgeRollout governs before anything is
// held; a `lab install --replace` whose aggregator fails to start brings the earlier components back on
// their addresses; with configmaps moved and the aggregator killed, `lab install --replace` works and `bridgectl
// release` gives every shard back with a warning of what is unmirrored. Unit tests: synchronizer-stall,
// shard-move-checks, release, sidecar-local-routing (the sidecar's 503 while the aggregator is down).
// First: this file moves configmaps, and the fence would refuse other suites' writes to the shared lab.
import { stopPrivateLab } from '../helpers/private-lab.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { readInstalledDaemons } from '../../lab/install.js';
import { LAB_APPS_NAMESPACE } from '../../lab/install-context.js';
import { isDaemonAlive } from '../../lab/process.js';
import { labDir } from '../../lib/process/paths.js';
import { readLabState } from '../../lab/lab-files.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { AGGREGATOR_LEASE, ROUTING_TABLE_CONFIGMAP, SYSTEM_NAMESPACE } from '../../lib/names.js';
import { shardState, validateRoutingTable } from '../../lib/routing/routing-table.js';
import type { RoutingTable } from '../../lib/routing/types.js';
import { waitUntil } from '../../lib/wait-until.js';
import { createNamespace, isProcessRunning, kubeconfigPath, kubectl, kubectlOk, run, uniqueName } from '../helpers/lab-clients.js';

const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');
const bridgectl = (...args: string[]) => run(process.execPath, [CLI, ...args]);
const component = (name: string) => readInstalledDaemons().find((d) => d.name === name)!;
const apiserverPid = (cluster: 'source' | 'destination') => readLabState()!.clusters[cluster].daemons.find((d) => d.name === 'kube-apiserver')!.pid;
const names = async (cluster: 'source' | 'destination', namespace: string) =>
  (await kubectlOk(cluster, ['-n', namespace, 'get', 'configmaps', '-o', 'jsonpath={.items[*].metadata.name}'])).split(' ').filter((n) => n.startsWith('cm-'));

let destination: KubeRestClient;
/** The aggregator leader's Lease renewed within its duration, as `bridgectl release` judges it. */
/** The aggregator holding a fresh leader Lease, if any. */
async function leadingAggregator(): Promise<string | undefined> {
  const path = `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases/${AGGREGATOR_LEASE}`;
  const got = await destination.request<{ spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number } }>('GET', path);
  const spec = got.status === 200 ? got.body.spec : undefined;
  const fresh = !!spec?.renewTime && Date.parse(spec.renewTime) + (spec.leaseDurationSeconds ?? 30) * 1000 > Date.now();
  return fresh ? spec.holderIdentity : undefined;
}
async function routingTable(): Promise<RoutingTable> {
  const got = await destination.expect<{ data: Record<string, string> }>(
    'GET',
    `/api/v1/namespaces/${SYSTEM_NAMESPACE}/configmaps/${ROUTING_TABLE_CONFIGMAP}`,
    [200],
  );
  return validateRoutingTable(JSON.parse(got.body.data['table.json']!));
}

beforeAll(async () => {
  const installed = await bridgectl('lab', 'install', '--replace');
  if (installed.code !== 0) throw new Error(`lab install failed: ${installed.stderr}`);
  destination = KubeRestClient.load(kubeconfigPath('destination'));
}, 180_000);

afterAll(async () => {
  destination?.close();
  await stopPrivateLab();
}, 180_000);

describe('an API server stalled for 10 s', () => {
  it('the synchronizer neither exits nor stays behind: deletes that timed out are applied after the stall', async () => {
    const namespace = await createNamespace('source', 'e2e-stall');
    const manifest = (name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}, namespace: ${namespace}}\ndata: {v: "1"}\n---\n`;
    await kubectlOk('source', ['apply', '-f', '-'], Array.from({ length: 40 }, (_, i) => manifest(`cm-${i}`)).join(''));
    await waitUntil('the mirror', async () => (await names('destination', namespace)).length === 40, { timeoutMs: 60_000, intervalMs: 500 });
    const synchronizer = component('synchronizer');
    const stalled = apiserverPid('destination');
    process.kill(stalled, 'SIGSTOP');
    try {
      // The mirror's DELETEs and creates hit the stopped API server: each times out after 10000 ms.
      await kubectlOk('source', ['-n', namespace, 'delete', 'configmaps', ...Array.from({ length: 30 }, (_, i) => `cm-${i}`), '--wait=false']);
      await kubectlOk('source', ['apply', '-f', '-'], Array.from({ length: 10 }, (_, i) => manifest(`cm-new-${i}`)).join(''));
      await new Promise((resolve) => setTimeout(resolve, 10_000));
    } finally {
      process.kill(stalled, 'SIGCONT');
    }
    const expected = (await names('source', namespace)).sort();
    expect(expected).toHaveLength(20);
    await waitUntil('the replica to converge after the stall', async () => (await names('destination', namespace)).sort().join() === expected.join(), {
      timeoutMs: 90_000,
      intervalMs: 1000,
    });
    expect(isProcessRunning(synchronizer.pid)).toBe(true);
    const metrics = await (await fetch(`http://127.0.0.1:${synchronizer.ports[1]}/metrics`)).text();
    expect(metrics).toMatch(/^cluster_bridge_synchronizer_unhandled_rejections_total 0$/m);
  }, 180_000);
});

describe('bridgectl aggregator move', () => {
  it('refuses a shard the API server does not serve, pointing to the one meant, and holds nothing', async () => {
    const before = await routingTable();
    const moved = await bridgectl('aggregator', 'move', '--shard', 'leases', '--to', 'destination', '--kubeconfig', kubeconfigPath('destination'));
    expect(moved.code).toBe(1);
    expect(moved.stderr).toMatch(/BRIDGE_ERR_ROUTING: the destination API server serves no resource type leases; did you mean leases\.coordination\.k8s\.io\?/);
    const after = await routingTable();
    expect([after.generation, after.shards.leases]).toEqual([before.generation, undefined]);
  });

  it('refuses a shard a BridgeRollout governs, naming it and how to take over', async () => {
    const rollout = `apiVersion: cluster-bridge.io/v1alpha1\nkind: BridgeRollout\nmetadata: {name: e2e-governs, namespace: ${SYSTEM_NAMESPACE}}\nspec:\n  shards: [secrets]\n  stages: [{name: shadow, fraction: 0}]\n`;
    await kubectlOk('destination', ['apply', '-f', '-'], rollout);
    try {
      const moved = await bridgectl('aggregator', 'move', '--shard', 'secrets', '--to', 'destination', '--kubeconfig', kubeconfigPath('destination'));
      expect(moved.code).toBe(1);
      expect(moved.stderr).toMatch(/BRIDGE_ERR_ROLLOUT: BridgeRollout "e2e-governs" \(phase \w+\) governs secrets/);
      expect(moved.stderr).toContain(`kubectl -n ${SYSTEM_NAMESPACE} delete bridgerollout e2e-governs`);
      expect(shardState(await routingTable(), 'secrets').owner).toBe('source');
    } finally {
      await kubectl('destination', ['-n', SYSTEM_NAMESPACE, 'delete', 'bridgerollout', 'e2e-governs', '--wait=true']);
    }
  });
});

describe('a failed lab install --replace', () => {
  it('leaves the earlier components running on their addresses, and names the component and the cause', async () => {
    const before = readInstalledDaemons();
    expect(before.map((d) => d.name)).toEqual(['webhook', 'synchronizer', 'aggregator', 'sidecar']);
    // A setting only the aggregator reads, broken: the new webhook and synchronizer start, then the aggregator exits at start-up.
    const failed = await run(process.execPath, [CLI, 'lab', 'install', '--replace'], {
      env: { ...process.env, BRIDGE_UNKNOWN_TOKEN_REVIEWS_PER_SECOND: 'many' },
    });
    expect(failed.code).toBe(1);
    const after = readInstalledDaemons();
    expect(after.map((d) => [d.name, d.ports])).toEqual(before.map((d) => [d.name, d.ports]));
    for (const daemon of after) {
      expect([daemon.name, isDaemonAlive(daemon), (await fetch(`http://127.0.0.1:${daemon.ports[1]}/readyz`)).status]).toEqual([daemon.name, true, 200]);
    }
    expect(failed.stderr).toMatch(
      /BRIDGE_ERR_LAB_START_FAILED: gave up waiting for the lab aggregator to become ready: it exited during start-up; its log ends: .*BRIDGE_UNKNOWN_TOKEN_REVIEWS_PER_SECOND/,
    );
    expect(failed.stderr).toContain('the earlier install runs again: webhook, synchronizer, aggregator, sidecar');
    // A workload's calls go through the sidecar and the aggregator, and the webhook still injects new pods.
    const workload = join(labDir(), 'workload.kubeconfig');
    expect((await kubectl(workload, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'])).stdout).toBe(
      `system:serviceaccount:${LAB_APPS_NAMESPACE}:default`,
    );
    expect((await kubectl(workload, ['get', 'configmaps', '-o', 'name'])).code).toBe(0);
    const pod = uniqueName('after-failed-replace');
    await kubectlOk('source', ['-n', LAB_APPS_NAMESPACE, 'run', pod, '--image=registry.invalid/app:1', '--restart=Never']);
    const containers = await kubectlOk('source', [
      '-n',
      LAB_APPS_NAMESPACE,
      'get',
      'pod',
      pod,
      '-o',
      'jsonpath={.spec.initContainers[*].name} {.spec.containers[*].name}',
    ]);
    expect(containers.split(' ')).toContain('cluster-bridge-proxy');
    await kubectl('source', ['-n', LAB_APPS_NAMESPACE, 'delete', 'pod', pod, '--wait=false']);
  }, 240_000);
});

describe('the way back with no aggregator', () => {
  it('lab install --replace works with configmaps fenced, and release gives every shard back, warning of what is unmirrored', async () => {
    const moved = await bridgectl('aggregator', 'move', '--shard', 'configmaps', '--to', 'destination', '--kubeconfig', kubeconfigPath('destination'));
    expect([moved.code, moved.stderr]).toEqual([0, expect.any(String)]);
    const namespace = await createNamespace('source', 'e2e-release');
    // The lab's admin is fenced like any user: configmaps belong to the destination now.
    const fenced = await kubectl('source', ['-n', namespace, 'create', 'configmap', 'cm-fenced']);
    expect(fenced.stderr).toMatch(/forbidden|fenced|denied/i);
    const killed = await leadingAggregator();
    process.kill(component('aggregator').pid, 'SIGKILL');
    // Before: `PUT .../cluster-bridge-ca-bundle: 403 ... fenced`, with every component stopped.
    const reinstalled = await bridgectl('lab', 'install', '--replace');
    expect([reinstalled.code, reinstalled.stderr.split('\n').filter((l) => /error/i.test(l))]).toEqual([0, []]);

    // While an aggregator leads, release is refused and changes nothing.
    // The killed aggregator's Lease stays fresh for its duration: wait for the new one's (CI once ran release after the old Lease lapsed, before the new lead).
    await waitUntil(
      'the reinstalled aggregator to lead',
      async () => {
        const leader = await leadingAggregator();
        return leader !== undefined && leader !== killed ? leader : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const tableWhileLed = await routingTable();
    const refused = await bridgectl('release');
    expect([refused.code, refused.stderr]).toEqual([1, expect.stringContaining('an aggregator leads')]);
    expect(await routingTable()).toEqual(tableWhileLed);

    // Now no aggregator and no synchronizer: a ConfigMap the destination has and the source lacks.
    for (const name of ['aggregator', 'synchronizer']) process.kill(component(name).pid, 'SIGKILL');
    await kubectlOk('destination', ['create', 'namespace', namespace]);
    await kubectlOk('destination', ['-n', namespace, 'create', 'configmap', 'cm-only-on-destination', '--from-literal=v=1']);
    const before = shardState(await routingTable(), 'configmaps');
    // --force: the killed aggregator's Lease is still within its 30 s (without it, refused as above).
    const released = await bridgectl('release', '--force');
    expect([released.code, released.stderr.split('\n').filter((l) => l.includes('BRIDGE_ERR'))]).toEqual([0, []]);
    expect(released.stdout + released.stderr).toMatch(new RegExp(`configmaps: 1 on the destination only: ${namespace}/cm-only-on-destination`));
    const after = shardState(await routingTable(), 'configmaps');
    expect([after.owner, after.handoff, after.epochs.length]).toEqual(['source', undefined, before.epochs.length + 1]);
    expect(BigInt(after.epochs.at(-1)!.offset)).toBeGreaterThan(BigInt(before.epochs.at(-1)!.offset));
    // The fence is gone: the source's admin writes configmaps again, once the API server's policy informer saw the delete.
    await waitUntil(
      'the fence lifted',
      async () => (await kubectl('source', ['-n', namespace, 'create', 'configmap', 'cm-after-release'])).code === 0 || undefined,
      {
        timeoutMs: 15_000,
        intervalMs: 250,
      },
    );
  }, 240_000);
});
