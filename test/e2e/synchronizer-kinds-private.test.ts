/**
 * On a lab of its own whose destination's service range does not overlap the source's (it moves a
 * shard's owner, so never on the shared lab): a custom resource waits, with a clear reason, for its CRD
 * on the destination and arrives once the CRD shard brought the CRD; a Service whose ClusterIP is
 * outside the destination's range is reported with the API server's message in `bridgectl sync status`
 * and the metrics while everything else keeps mirroring; and while the destination owns
 * deployments.apps, the Deployment's status still comes from the source, never the other way; so it
 * does in a namespace the destination owns once deployments.apps is carried in namespace shards.
 */
import { stopPrivateLab } from '../helpers/private-lab-disjoint.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { CRD_PATH, installTestCrd, labSynchronizerEnv } from '../../lab/local-synchronizer.js';
import { canonicalJson } from '../../lib/canonical-json.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import type { KubeObject } from '../../lib/kube/types.js';
import { ConfigMapRoutingStore } from '../../lib/routing/configmap-store.js';
import { beginHandoff, completeHandoff } from '../../lib/routing/routing-table.js';
import { namespaceShardKey } from '../../lib/routing/shard-hash.js';
import { waitUntil } from '../../lib/wait-until.js';
import { loadSyncConfig } from '../../synchronizer/config.js';
import { CRD_SHARD } from '../../synchronizer/crd-readiness.js';
import { carriedMirrorKey, startSynchronizer, type RunningSynchronizer } from '../../synchronizer/server.js';
import { createNamespace, kubeconfigPath, kubectlOk, run, uniqueName } from '../helpers/lab-clients.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';

const GROUP = 'kinds.e2e.cluster-bridge.io';
const WIDGETS = `widgets.${GROUP}`;
const SHARDS = ['configmaps', 'services', 'deployments.apps', CRD_SHARD, WIDGETS];

let source: KubeRestClient;
let destination: KubeRestClient;
let sync: RunningSynchronizer | undefined;
let namespace: string;

const start = async (name: string, shards: string[]) => {
  const config = loadSyncConfig({ ...(await labSynchronizerEnv(name, shards)), BRIDGE_LEASE_DURATION_SECONDS: '6' });
  const started = await startSynchronizer({ ...config, leaseName: uniqueName(name) }, silentLog);
  await waitUntil(`${name} to lead`, () => started.isLeader());
  return started;
};
const mirrorOf = (shard: string) => sync!.status().mirrors.find((m) => m.shard === shard);
const syncStatus = async () => {
  const result = await run(process.execPath, [join(process.cwd(), 'dist', 'cli', 'main.js'), 'sync', 'status', '--url', `http://127.0.0.1:${sync!.opsPort}`]);
  expect(result.code).toBe(0);
  return result.stdout;
};
const read = async (client: KubeRestClient, path: string) => {
  const got = await client.request<KubeObject>('GET', path);
  return got.status === 200 ? got.body : undefined;
};
const core = (resource: string, name = '') => `/api/v1/namespaces/${namespace}/${resource}${name ? `/${name}` : ''}`;
const widget = (name = '') => `/apis/${GROUP}/v1/namespaces/${namespace}/widgets${name ? `/${name}` : ''}`;
const deployment = (name = '') => `/apis/apps/v1/namespaces/${namespace}/deployments${name ? `/${name}` : ''}`;
const conditionsOf = (obj: KubeObject | undefined) => ((obj?.status as { conditions?: { type: string; message?: string }[] }) ?? {}).conditions ?? [];

beforeAll(async () => {
  source = KubeRestClient.load(kubeconfigPath('source'));
  destination = KubeRestClient.load(kubeconfigPath('destination'));
  namespace = await createNamespace('source', 'sync-kinds');
}, 60_000);

afterAll(async () => {
  await sync?.close();
  source?.close();
  destination?.close();
  await stopPrivateLab();
}, 120_000);

describe('a destination of its own: CRDs first, another service range, the destination owning workloads', () => {
  it('a custom resource waits for its CRD on the destination, with the reason, and arrives once the CRD shard is mirrored', async () => {
    await installTestCrd([source], GROUP, 'widgets', 'Widget');
    await source.expect('POST', widget(), [201], { apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3 } });

    // Only the custom resources: the destination has no CRD for them, so the mirror waits and says why.
    sync = await start('sync-kinds-crs', [WIDGETS]);
    try {
      await waitUntil('the widgets mirror to wait for its CRD', () => mirrorOf(WIDGETS)?.phase === 'waiting-for-crd');
      expect(mirrorOf(WIDGETS)!.errors['crd-not-established']).toBeGreaterThan(0);
      expect(mirrorOf(WIDGETS)!.errors.write).toBeUndefined();
      expect(await syncStatus()).toContain(`the CustomResourceDefinition ${WIDGETS} is missing on the destination`);
    } finally {
      // The later tests use the synchronizer of every shard, whatever happened here.
      await sync.close();
      sync = await start('sync-kinds', SHARDS);
    }
    const copy = await waitUntil('the Widget to be mirrored', () => read(destination, widget('w1')));
    expect(copy.spec).toEqual({ size: 3 });
    const crd = (await read(destination, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${WIDGETS}`))!;
    expect((crd.spec as { group: string }).group).toBe(GROUP);
    expect(mirrorOf(WIDGETS)!.errors.write).toBeUndefined();
  });

  it('a CRD created while it runs has its custom resources mirrored without being listed, until the CRD is deleted', async () => {
    // A group of its own: installTestCrd waits until the group's version is served.
    const found = 'found.e2e.cluster-bridge.io';
    const gadgets = `gadgets.${found}`;
    const gadget = (name = '') => `/apis/${found}/v1/namespaces/${namespace}/gadgets${name ? `/${name}` : ''}`;
    expect(sync!.status().shards).not.toContain(gadgets);
    await installTestCrd([source], found, 'gadgets', 'Gadget');
    await source.expect('POST', gadget(), [201], { apiVersion: `${found}/v1`, kind: 'Gadget', metadata: { name: 'g1' }, spec: { size: 7 } });
    const copy = await waitUntil('the Gadget to be mirrored', () => read(destination, gadget('g1')));
    expect(copy.spec).toEqual({ size: 7 });
    expect(sync!.status().shards).toContain(gadgets);
    expect(mirrorOf(gadgets)).toMatchObject({ shard: gadgets });

    await source.expect('DELETE', `${CRD_PATH}/${gadgets}`, [200]);
    await waitUntil('the gadgets mirror to stop', () => (!sync!.status().shards.includes(gadgets) && !mirrorOf(gadgets) ? true : undefined));
    // The CRD shard's mirror removes the destination's CRD (and with it its custom resources).
    await waitUntil("the destination's Gadget CRD to go", async () => ((await read(destination, `${CRD_PATH}/${gadgets}`)) ? undefined : true));
  });

  it("reports a Service whose ClusterIP is outside the destination's range with the API server's message, and keeps mirroring the rest", async () => {
    const service = await source.expect<KubeObject>('POST', core('services'), [201], {
      metadata: { name: 'outside' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
    });
    const clusterIP = (service.body.spec as { clusterIP: string }).clusterIP;
    await waitUntil('the refused Service to be reported', () => mirrorOf('services')?.lastError?.includes('outside'));
    const refused = mirrorOf('services')!;
    expect(refused.errors.write).toBeGreaterThan(0);
    expect(refused.lastError).toContain(clusterIP);
    expect(refused.lastError).toMatch(/Service "outside" is invalid/);
    expect(await syncStatus()).toMatch(new RegExp(`services: last error: .*Service "outside" is invalid.*${clusterIP.replace(/\./g, '\\.')}`));
    const metrics = await (await fetch(`http://127.0.0.1:${sync!.opsPort}/metrics`)).text();
    expect(metrics).toMatch(/cluster_bridge_synchronizer_errors_total\{[^}]*shard="services"[^}]*reason="write"[^}]*\} [1-9]/);

    // The rest goes on: a ConfigMap and a headless Service (no ClusterIP to refuse) created after it.
    await source.expect('POST', core('configmaps'), [201], { metadata: { name: 'after' }, data: { k: 'v' } });
    await source.expect('POST', core('services'), [201], { metadata: { name: 'headless' }, spec: { clusterIP: 'None', ports: [{ port: 80 }] } });
    await waitUntil('the ConfigMap created after it to be mirrored', () => read(destination, core('configmaps', 'after')));
    await waitUntil('the headless Service to be mirrored', () => read(destination, core('services', 'headless')));
    expect(await read(destination, core('services', 'outside'))).toBeUndefined();
  });

  it("while the destination owns deployments.apps, the source's status is copied to the destination's Deployment, never the other way", async () => {
    await source.expect('POST', deployment(), [201], {
      metadata: { name: 'web', labels: { app: 'web' } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] } },
      },
    });
    await waitUntil('the Deployment to be mirrored', () => read(destination, deployment('web')));

    const store = new ConfigMapRoutingStore(destination, silentLog);
    const { table, version } = await store.load();
    const sourceRV = (await source.expect<{ metadata: { resourceVersion: string } }>('GET', deployment(), [200])).body.metadata.resourceVersion;
    const now = new Date();
    await store.replace(completeHandoff(beginHandoff(table, 'deployments.apps', 'destination', now), 'deployments.apps', sourceRV, now), version);
    await waitUntil('the Deployment mirror to turn around', () => mirrorOf('deployments.apps')?.direction === 'destination->source');

    // A status written on the destination is not the source's: it never reaches the source.
    const foreign = { type: 'DestinationOnly', status: 'True', reason: 'E2E', message: 'written on the destination' };
    const patch = (condition: object) => JSON.stringify({ status: { conditions: [condition] } });
    await kubectlOk('destination', ['-n', namespace, 'patch', 'deployment', 'web', '--subresource=status', '--type=strategic', '-p', patch(foreign)]);
    await kubectlOk('destination', ['-n', namespace, 'label', 'deployment', 'web', 'owned-by=destination']);
    const mirroredBack = await waitUntil("the destination's label on the source", async () => {
      const own = await read(source, deployment('web'));
      return own?.metadata.labels?.['owned-by'] === 'destination' ? own : undefined;
    });
    expect(conditionsOf(mirroredBack).map((c) => c.type)).not.toContain('DestinationOnly');

    // The source's status, written there, replaces the destination's on the destination's object.
    const probe = { type: 'BridgeProbe', status: 'True', reason: 'E2E', message: 'written on the source after the move' };
    await kubectlOk('source', ['-n', namespace, 'patch', 'deployment', 'web', '--subresource=status', '--type=strategic', '-p', patch(probe)]);
    const copied = await waitUntil("the source's status on the destination's Deployment", async () => {
      const [own, copy] = await Promise.all([read(source, deployment('web')), read(destination, deployment('web'))]);
      return conditionsOf(own).some((c) => c.type === 'BridgeProbe') && canonicalJson(own!.status) === canonicalJson(copy?.status) ? copy : undefined;
    });
    expect(conditionsOf(copied).map((c) => c.type)).not.toContain('DestinationOnly');
  });
  it("with deployments.apps carried in namespace shards, a namespace the destination owns gets its Deployments' status from the source", async () => {
    const store = new ConfigMapRoutingStore(destination, silentLog);
    const moved = await createNamespace('source', 'sync-kinds-ns');
    const kept = await createNamespace('source', 'sync-kinds-kept');
    // deployments.apps becomes carried: the type shard the test above moved is the source's again.
    let { table, version } = await store.load();
    const { 'deployments.apps': _moved, ...shards } = table.shards;
    await store.replace({ ...table, shards, namespaceTypes: ['deployments.apps'] }, version);
    await waitUntil('both carried mirrors of deployments.apps', () =>
      sync!.mirrors.has(carriedMirrorKey('deployments.apps', 'source')) && sync!.mirrors.has(carriedMirrorKey('deployments.apps', 'destination'))
        ? true
        : undefined,
    );
    const inNamespace = (ns: string, name = '') => `/apis/apps/v1/namespaces/${ns}/deployments${name ? `/${name}` : ''}`;
    for (const ns of [moved, kept]) {
      await source.expect('POST', inNamespace(ns), [201], {
        metadata: { name: 'api', labels: { app: 'api' } },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'api' } },
          template: { metadata: { labels: { app: 'api' } }, spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] } },
        },
      });
      await waitUntil(`the Deployment of ${ns} mirrored`, () => read(destination, inNamespace(ns, 'api')));
    }

    // The namespace moves to the destination, as a completed hand-off writes it.
    ({ table, version } = await store.load());
    const sourceRV = (await source.expect<{ metadata: { resourceVersion: string } }>('GET', inNamespace(moved), [200])).body.metadata.resourceVersion;
    const now = new Date();
    const key = namespaceShardKey(moved);
    await store.replace(completeHandoff(beginHandoff(table, key, 'destination', now), key, sourceRV, now), version);
    await waitUntil('the namespace to turn around', async () => {
      await kubectlOk('destination', ['-n', moved, 'label', 'deployment', 'api', '--overwrite', 'turned=yes']);
      return (await read(source, inNamespace(moved, 'api')))?.metadata.labels?.['turned'] === 'yes' ? true : undefined;
    });

    // Status written on the source (its controllers run the pods) reaches the destination's object in both namespaces.
    for (const ns of [moved, kept]) {
      const probe = { type: 'BridgeProbe', status: 'True', reason: 'E2E', message: `written on the source in ${ns}` };
      await kubectlOk('source', [
        '-n',
        ns,
        'patch',
        'deployment',
        'api',
        '--subresource=status',
        '--type=strategic',
        '-p',
        JSON.stringify({ status: { conditions: [probe] } }),
      ]);
      await waitUntil(`the source's status on the destination's Deployment in ${ns}`, async () => {
        const [own, copy] = await Promise.all([read(source, inNamespace(ns, 'api')), read(destination, inNamespace(ns, 'api'))]);
        return conditionsOf(copy).some((c) => c.message === probe.message) && canonicalJson(own!.status) === canonicalJson(copy!.status) ? true : undefined;
      });
    }
  });
});
