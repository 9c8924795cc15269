// Cluster-wide RBAC follows the source (docs/adr/0013, issue 20 item 2), on the lab's two real clusters
// with the bridge's identities as shipped (the synchronizer writes the destination with exactly
// manifests/destination/synchronizer-rbac.yaml's rights, escalate and bind included). A ServiceAccount
// whose only grant is a ClusterRoleBinding on the source reads and writes configmaps through the sidecar
// while the destination owns them; an aggregated ClusterRole grants the same there; a revocation on the
// source reaches the destination within the mirror's lag (measured); bootstrap, system: and the bridge's
// own objects are not copied, and the destination's own are neither overwritten nor deleted. A lab of its
// own: moving configmaps fences the source.
import { stopPrivateLab } from '../helpers/private-lab.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { MIRROR_OF_UID_ANNOTATION } from '../../lib/names.js';
import { waitUntil } from '../../lib/wait-until.js';
import { startLabBridge, type LabBridge } from '../helpers/bridge-lab.js';
import { createNamespace, kubeconfigPath, kubectl, kubectlOk, run, uniqueName } from '../helpers/lab-clients.js';
import {
  shippedAggregatorDestinationKubeconfig,
  shippedAggregatorSourceKubeconfig,
  shippedSynchronizerKubeconfigs,
} from '../helpers/shipped-source-identity.js';

const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const id = uniqueName('rbac').slice(5);
let bridge: LabBridge;
let namespace: string;
let source: KubeRestClient;
let destination: KubeRestClient;
const tokens: Record<string, string> = {};

const clusterRole = (name: string, rules: unknown[], labels?: Record<string, string>, extra: object = {}) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRole',
  metadata: { name, ...(labels ? { labels } : {}) },
  rules,
  ...extra,
});
const binding = (name: string, role: string, serviceAccount: string) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRoleBinding',
  metadata: { name },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
  subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace }],
});
const configmapRules = (verbs: string[]) => [{ apiGroups: [''], resources: ['configmaps'], verbs }];
const AGGREGATE_LABEL = `e2e.cluster-bridge.io/aggregate-to-${id}`;

/** One call through the sidecar (-> aggregator -> the shard's owner) as `account`; returns the HTTP status. */
function throughBridge(account: string, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, bridge.sidecar.server);
    const headers = { authorization: `Bearer ${tokens[account]}`, 'content-type': contentType, accept: 'application/json' };
    const req = request(url, { method, headers, ca: bridge.sidecar.caBundlePem, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const configmaps = () => `/api/v1/namespaces/${namespace}/configmaps`;
const copyIn = async (resource: string, name: string) => {
  const got = await destination.request<{ metadata: { annotations?: Record<string, string> }; rules?: unknown[] }>('GET', `${RBAC}/${resource}/${name}`);
  return got.status === 200 ? got.body : undefined;
};
const waitForCopy = (resource: string, name: string, timeoutMs?: number) =>
  waitUntil(
    `${resource}/${name} copied to the destination`,
    async () => ((await copyIn(resource, name))?.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION] ? true : undefined),
    { timeoutMs },
  );

/** Polls `probe` every 10 ms from just after `act` until it answers `status`; returns the milliseconds since `act` returned. */
async function millisUntil(act: () => Promise<unknown>, probe: () => Promise<number>, status: number): Promise<number> {
  await act();
  const start = performance.now();
  await waitUntil(`the destination to answer ${status}`, async () => ((await probe()) === status ? true : undefined), { timeoutMs: 60_000, intervalMs: 10 });
  return performance.now() - start;
}

beforeAll(async () => {
  source = KubeRestClient.load(kubeconfigPath('source'));
  destination = KubeRestClient.load(kubeconfigPath('destination'));
  namespace = await createNamespace('source', 'rbac');
  for (const account of ['operator', 'aggregated', 'unmirrored']) {
    await kubectlOk('source', ['-n', namespace, 'create', 'serviceaccount', account]);
    tokens[account] = (await kubectlOk('source', ['-n', namespace, 'create', 'token', account, '--duration=1h'])).trim();
  }
  // operator: its only grant is this ClusterRoleBinding. unmirrored: the same role through a binding the mirror
  // leaves out (a system: name), standing for every binding before this change.
  await source.expect(
    'POST',
    `${RBAC}/clusterroles`,
    [201],
    clusterRole(`rbac-e2e-cm-${id}`, configmapRules(['get', 'list', 'create', 'update', 'patch', 'delete'])),
  );
  await source.expect('POST', `${RBAC}/clusterrolebindings`, [201], binding(`rbac-e2e-operator-${id}`, `rbac-e2e-cm-${id}`, 'operator'));
  await source.expect('POST', `${RBAC}/clusterrolebindings`, [201], binding(`system:rbac-e2e-${id}`, `rbac-e2e-cm-${id}`, 'unmirrored'));
  // aggregated: bound to a role whose rules the aggregation controller computes from a labelled part.
  const aggregationRule = { clusterRoleSelectors: [{ matchLabels: { [AGGREGATE_LABEL]: 'true' } }] };
  await source.expect('POST', `${RBAC}/clusterroles`, [201], clusterRole(`rbac-e2e-agg-${id}`, [], undefined, { aggregationRule }));
  await source.expect(
    'POST',
    `${RBAC}/clusterroles`,
    [201],
    clusterRole(`rbac-e2e-part-${id}`, configmapRules(['get', 'list']), { [AGGREGATE_LABEL]: 'true' }),
  );
  await source.expect('POST', `${RBAC}/clusterrolebindings`, [201], binding(`rbac-e2e-aggregated-${id}`, `rbac-e2e-agg-${id}`, 'aggregated'));
  const dir = mkdtempSync(join(tmpdir(), 'bridge-cluster-rbac-'));
  bridge = await startLabBridge({
    namespace,
    aggregatorSourceKubeconfig: await shippedAggregatorSourceKubeconfig(dir),
    synchronizerKubeconfigs: await shippedSynchronizerKubeconfigs(dir),
    beforeAggregator: async (env) => void (env.BRIDGE_DESTINATION_KUBECONFIG = await shippedAggregatorDestinationKubeconfig(dir)),
  });
  await waitUntil('the ServiceAccounts mirrored (their namespace with them)', async () =>
    (await destination.request('GET', `/api/v1/namespaces/${namespace}/serviceaccounts/operator`)).status === 200 ? true : undefined,
  );
  // Not an assertion here: without the copies the first test shows what a caller gets (403).
  for (const [resource, name] of [
    ['clusterrolebindings', `rbac-e2e-operator-${id}`],
    ['clusterrolebindings', `rbac-e2e-aggregated-${id}`],
    ['clusterroles', `rbac-e2e-part-${id}`],
  ] as const) {
    await waitForCopy(resource, name, 30_000).catch(() => undefined);
  }
  await bridge.aggregator.handoff!.changeOwner('configmaps', 'destination', 'e2e');
}, 240_000);

afterAll(async () => {
  await bridge?.close();
  source?.close();
  destination?.close();
  await stopPrivateLab();
}, 120_000);

describe('cluster RBAC in the destination follows the source', () => {
  it('a ServiceAccount granted by a ClusterRoleBinding on the source reads and writes a destination-owned shard; one whose binding is not copied gets 403', async () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'made-by-operator' }, data: { k: 'v' } };
    expect(await throughBridge('operator', 'POST', configmaps(), cm)).toBe(201);
    // Written in the destination (the owner), not the source.
    expect((await destination.request('GET', `${configmaps()}/made-by-operator`)).status).toBe(200);
    expect(await throughBridge('operator', 'GET', configmaps())).toBe(200);
    expect(await throughBridge('operator', 'PATCH', `${configmaps()}/made-by-operator`, { data: { k: 'w' } }, 'application/merge-patch+json')).toBe(200);
    expect(await throughBridge('operator', 'PUT', `${configmaps()}/made-by-operator`, { ...cm, data: { k: 'w' } })).toBe(200);
    expect(await throughBridge('operator', 'DELETE', `${configmaps()}/made-by-operator`)).toBe(200);
    // The same rights on the source, through a binding the destination lacks (as every binding did before): 403 there.
    const direct = await kubectl('source', ['auth', 'can-i', 'list', 'configmaps', '-n', namespace, `--as=system:serviceaccount:${namespace}:unmirrored`]);
    expect(direct.stdout.trim()).toBe('yes');
    expect(await throughBridge('unmirrored', 'GET', configmaps())).toBe(403);
    expect(await throughBridge('unmirrored', 'POST', configmaps(), { ...cm, metadata: { name: 'refused' } })).toBe(403);
  });

  it("an aggregated ClusterRole grants the same in the destination: its aggregationRule is copied and the destination's controller computes its rules", async () => {
    await waitUntil('the aggregated role computed in the destination', async () =>
      (await copyIn('clusterroles', `rbac-e2e-agg-${id}`))?.rules?.length ? true : undefined,
    );
    const inSource = (await source.expect<{ rules: unknown[] }>('GET', `${RBAC}/clusterroles/rbac-e2e-agg-${id}`, [200])).body;
    expect((await copyIn('clusterroles', `rbac-e2e-agg-${id}`))!.rules).toEqual(inSource.rules);
    expect(await throughBridge('aggregated', 'GET', configmaps())).toBe(200);
    // The part grants get and list only, in both clusters.
    expect(await throughBridge('aggregated', 'POST', configmaps(), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'no' } })).toBe(403);
  });

  it('a revocation on the source reaches the destination within the mirror lag: a deleted binding, an edited aggregated part', async () => {
    const probe = (account: string) => () => throughBridge(account, 'GET', configmaps());
    // Granted until then (or the 403 below would prove nothing).
    expect([await probe('operator')(), await probe('aggregated')()]).toEqual([200, 200]);
    const deleted = await millisUntil(() => source.expect('DELETE', `${RBAC}/clusterrolebindings/rbac-e2e-operator-${id}`, [200]), probe('operator'), 403);
    const part = (await source.expect<object>('GET', `${RBAC}/clusterroles/rbac-e2e-part-${id}`, [200])).body;
    const edited = await millisUntil(
      () => source.expect('PUT', `${RBAC}/clusterroles/rbac-e2e-part-${id}`, [200], { ...part, rules: configmapRules(['get']) }),
      probe('aggregated'),
      403,
    );
    const lag = Object.fromEntries(
      bridge.synchronizer
        .status()
        .mirrors.filter((m) => m.shard.startsWith('cluster'))
        .map((m) => [m.shard, m.lag]),
    );
    process.stderr.write(
      `[cluster-rbac] source change -> destination 403 through the bridge: binding deleted ${deleted.toFixed(0)} ms, aggregated part edited ${edited.toFixed(0)} ms; ` +
        `synchronizer lag ${JSON.stringify(lag)}\n`,
    );
    // Within the mirror's lag: the synchronizer's watch, one write, the destination's RBAC informer (and aggregation controller).
    expect(deleted).toBeLessThan(10_000);
    expect(edited).toBeLessThan(10_000);
  });

  it("copies no bootstrap, system: or bridge-owned object, and neither overwrites nor deletes the destination's own", async () => {
    const made = {
      control: `rbac-e2e-control-${id}`,
      bootstrap: `rbac-e2e-boot-${id}`,
      system: `system:rbac-e2e-${id}`,
      bridge: `cluster-bridge-e2e-${id}`,
      differs: `rbac-e2e-differs-${id}`,
    };
    const rules = configmapRules(['get']);
    await source.expect('POST', `${RBAC}/clusterroles`, [201], clusterRole(made.bootstrap, rules, { 'kubernetes.io/bootstrapping': 'rbac-defaults' }));
    await source.expect('POST', `${RBAC}/clusterroles`, [201], clusterRole(made.system, rules));
    await source.expect('POST', `${RBAC}/clusterroles`, [201], clusterRole(made.bridge, rules));
    await destination.expect('POST', `${RBAC}/clusterroles`, [201], clusterRole(made.differs, configmapRules(['list'])));
    await source.expect('POST', `${RBAC}/clusterroles`, [201], clusterRole(made.differs, rules));
    await source.expect('POST', `${RBAC}/clusterroles`, [201], clusterRole(made.control, rules)); // written last: once copied, the others were seen
    await waitForCopy('clusterroles', made.control);
    for (const name of [made.bootstrap, made.system, made.bridge]) expect(await copyIn('clusterroles', name)).toBeUndefined();
    // The destination's own bootstrap objects and the bridge's own rights there were left alone.
    for (const name of ['edit', 'cluster-admin', 'cluster-bridge-synchronizer']) {
      expect((await copyIn('clusterroles', name))?.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION]).toBeUndefined();
    }
    const kept = await copyIn('clusterroles', made.differs);
    expect([kept?.rules, kept?.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION]]).toEqual([configmapRules(['list']), undefined]);
    const mirror = bridge.synchronizer.status().mirrors.find((m) => m.shard === 'clusterroles.rbac.authorization.k8s.io')!;
    expect(mirror.errors['replica-original-kept']).toBeGreaterThanOrEqual(1);
    // Deleted on the source: the destination's own stays.
    await source.expect('DELETE', `${RBAC}/clusterroles/${made.differs}`, [200]);
    await source.expect('DELETE', `${RBAC}/clusterroles/${made.control}`, [200]);
    await waitUntil('the control copy deleted', async () => ((await copyIn('clusterroles', made.control)) ? undefined : true));
    expect((await copyIn('clusterroles', made.differs))?.rules).toEqual(configmapRules(['list']));
  });

  it('bridgectl preflight warns about a ClusterRoleBinding only the destination has', async () => {
    const extra = `rbac-e2e-destination-only-${id}`;
    await destination.expect('POST', `${RBAC}/clusterrolebindings`, [201], binding(extra, 'view', 'operator'));
    const preflight = (output: string[]) =>
      run(process.execPath, [
        'dist/cli/main.js',
        'preflight',
        '--source-kubeconfig',
        kubeconfigPath('source'),
        '--destination-kubeconfig',
        kubeconfigPath('destination'),
        ...output,
      ]);
    const line = (await preflight([])).stdout.split('\n').find((l) => l.includes('cluster-rbac:'));
    expect(line).toMatch(/^warn cluster-rbac: only the destination has \d+ \(bridged callers get more there\): ClusterRoleBinding /);
    const report = JSON.parse((await preflight(['--output', 'json'])).stdout) as { checks: { check: string; ok: boolean; failures?: string[] }[] };
    const check = report.checks.find((c) => c.check === 'cluster-rbac')!;
    expect(check.ok).toBe(true);
    expect(check.failures).toContain(`ClusterRoleBinding ${extra}`);
    expect(check.failures!.join(' ')).not.toContain(`rbac-e2e-aggregated-${id}`); // a copy is not the destination's own
  }, 180_000);
});
