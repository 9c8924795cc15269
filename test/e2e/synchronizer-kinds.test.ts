/**
 * Acceptance of the mirrored kinds on the lab's two clusters (issue 8), source -> destination: a
 * Deployment in an ownerReference chain (ConfigMap -> Deployment -> Secret), a Service of each type, a
 * Job with the selector its API server generated, a 1 MB ConfigMap, a Secret and a leader-election
 * Lease arrive with the fields equal on both sides; the workload status the source holds (written by
 * its controllers or patched through `/status`) appears on the destination's copies, whose own
 * controllers are off; a reconcile afterwards writes nothing. (The CRD ordering, a destination with
 * another service range and workload status while the destination owns the spec:
 * synchronizer-kinds-private.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { labSynchronizerEnv } from '../../lab/local-synchronizer.js';
import { canonicalJson } from '../../lib/canonical-json.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { BRIDGE_ANNOTATIONS } from '../../lib/routing/object-identity.js';
import { type KubeObject } from '../../lib/kube/types.js';
import { waitUntil } from '../../lib/wait-until.js';
import { loadSyncConfig } from '../../synchronizer/config.js';
import { startSynchronizer, type RunningSynchronizer } from '../../synchronizer/server.js';
import { lockBridgeState, resetBridgeState } from '../helpers/bridge-lab.js';
import { createNamespace, kubeconfigPath, kubectlOk, uniqueName } from '../helpers/lab-clients.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';

const SHARDS = [
  'configmaps',
  'secrets',
  'services',
  'leases.coordination.k8s.io',
  'deployments.apps',
  'statefulsets.apps',
  'daemonsets.apps',
  'jobs.batch',
  'cronjobs.batch',
];
const PREFIX: Record<string, string> = {
  configmaps: '/api/v1',
  secrets: '/api/v1',
  services: '/api/v1',
  leases: '/apis/coordination.k8s.io/v1',
  deployments: '/apis/apps/v1',
  statefulsets: '/apis/apps/v1',
  daemonsets: '/apis/apps/v1',
  jobs: '/apis/batch/v1',
  cronjobs: '/apis/batch/v1',
};

let source: KubeRestClient;
let destination: KubeRestClient;
let sync: RunningSynchronizer;
let unlock: () => void;
let namespace: string;

const path = (resource: string, name = '') => `${PREFIX[resource]}/namespaces/${namespace}/${resource}${name ? `/${name}` : ''}`;
const create = async (resource: string, body: Record<string, unknown>) => (await source.expect<KubeObject>('POST', path(resource), [201], body)).body;
const read = async (client: KubeRestClient, resource: string, name: string) => {
  const got = await client.request<KubeObject>('GET', path(resource, name));
  return got.status === 200 ? got.body : undefined;
};
const copyOf = (resource: string, name: string) => waitUntil(`the ${resource} ${name} to be mirrored`, () => read(destination, resource, name));

/** What must be equal on both sides: the object without what each API server sets for itself, the mirror's marks, references and status. */
function comparable(obj: KubeObject): unknown {
  const { uid, resourceVersion, creationTimestamp, managedFields, generation, ownerReferences, ...metadata } = obj.metadata;
  void [uid, resourceVersion, creationTimestamp, managedFields, generation, ownerReferences];
  const annotations = { ...metadata.annotations };
  for (const key of BRIDGE_ANNOTATIONS) delete annotations[key];
  const rest: Record<string, unknown> = { ...obj, metadata: { ...metadata, annotations } };
  delete rest.status;
  return rest;
}

const sameStatus = async (resource: string, name: string) => {
  const [own, copy] = await Promise.all([read(source, resource, name), read(destination, resource, name)]);
  return !!own?.status && canonicalJson(own.status) === canonicalJson(copy?.status) ? copy : undefined;
};

const ref = (owner: KubeObject, apiVersion: string, kind: string) => ({ apiVersion, kind, name: owner.metadata.name, uid: owner.metadata.uid! });

beforeAll(async () => {
  source = KubeRestClient.load(kubeconfigPath('source'));
  destination = KubeRestClient.load(kubeconfigPath('destination'));
  // It mirrors whole shards other bridge tests mirror too: one at a time.
  unlock = await lockBridgeState();
  await resetBridgeState(destination);
  namespace = await createNamespace('source', 'sync-kinds');
  const config = loadSyncConfig({ ...(await labSynchronizerEnv('sync-kinds-e2e', SHARDS)), BRIDGE_LEASE_DURATION_SECONDS: '6' });
  sync = await startSynchronizer({ ...config, leaseName: uniqueName('e2e-sync-kinds') }, silentLog);
  await waitUntil('the synchronizer to lead', () => sync.isLeader());
}, 120_000);

afterAll(async () => {
  await sync?.close();
  unlock?.();
  for (const client of [source, destination]) {
    await client?.request('DELETE', `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    client?.close();
  }
}, 60_000);

const podTemplate = (labels: Record<string, string>) => ({
  metadata: { labels },
  spec: { restartPolicy: labels.app ? 'Always' : 'Never', containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] },
});

describe('workload kinds, Services and the rest, source -> destination', () => {
  it('a Deployment in an ownerReference chain arrives equal, with the chain remapped, and its source status (patched through /status) follows', async () => {
    const config = await create('configmaps', { metadata: { name: 'web-config' }, data: { mode: 'blue' } });
    const web = await create('deployments', {
      metadata: { name: 'web', labels: { app: 'web' }, ownerReferences: [ref(config, 'v1', 'ConfigMap')] },
      spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: podTemplate({ app: 'web' }) },
    });
    await create('secrets', { metadata: { name: 'web-token', ownerReferences: [ref(web, 'apps/v1', 'Deployment')] }, stringData: { token: 't' } });

    await copyOf('deployments', 'web');
    // The source's deployment controller annotates the Deployment (its revision) after the create: the copy follows.
    const sameAsSource = async () =>
      JSON.stringify(comparable((await read(destination, 'deployments', 'web'))!)) === JSON.stringify(comparable((await read(source, 'deployments', 'web'))!));
    await waitUntil('the Deployment copy to equal the source', sameAsSource).catch(() => undefined);
    const webCopy = (await read(destination, 'deployments', 'web'))!;
    const tokenCopy = await copyOf('secrets', 'web-token');
    const configCopy = (await read(destination, 'configmaps', 'web-config'))!;
    expect(comparable(webCopy)).toEqual(comparable((await read(source, 'deployments', 'web'))!));
    expect(webCopy.metadata.ownerReferences).toEqual([ref(configCopy, 'v1', 'ConfigMap')]);
    expect(tokenCopy.metadata.ownerReferences).toEqual([ref(webCopy, 'apps/v1', 'Deployment')]);
    // The destination's controllers are off: no ReplicaSet of its own for the copy.
    const replicaSets = await destination.expect<{ items: unknown[] }>('GET', `/apis/apps/v1/namespaces/${namespace}/replicasets`, [200]);
    expect(replicaSets.body.items).toEqual([]);

    const probe = { type: 'BridgeProbe', status: 'True', reason: 'E2E', message: 'written on the source' };
    await kubectlOk('source', [
      '-n',
      namespace,
      'patch',
      'deployment',
      'web',
      '--subresource=status',
      '--type=strategic',
      '-p',
      JSON.stringify({ status: { conditions: [probe] } }),
    ]);
    const withStatus = await waitUntil("the source's Deployment status on the copy", () => sameStatus('deployments', 'web'));
    expect((withStatus.status as { conditions?: unknown[] }).conditions).toContainEqual(expect.objectContaining(probe));
  });

  it("a Job keeps the selector and controller-uid labels its source generated, and gets the source's status", async () => {
    const job = await create('jobs', { metadata: { name: 'once' }, spec: { suspend: true, template: podTemplate({ task: 'once' }) } });
    const jobSpec = job.spec as { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> } } };
    expect(jobSpec.selector.matchLabels['batch.kubernetes.io/controller-uid']).toBe(job.metadata.uid);

    const copy = await copyOf('jobs', 'once');
    const copySpec = copy.spec as typeof jobSpec & { manualSelector?: boolean };
    expect(copySpec.selector).toEqual(jobSpec.selector);
    expect(copySpec.template.metadata.labels).toEqual(jobSpec.template.metadata.labels);
    expect(copySpec.manualSelector).toBe(true); // the one difference: the copy's selector is not generated from its own UID
    const { manualSelector, ...rest } = copySpec;
    void manualSelector;
    expect(comparable({ ...copy, spec: rest })).toEqual(comparable({ ...job, spec: { ...jobSpec, manualSelector: undefined } }));

    // The suspended Job's status is the source's job controller's (its Suspended condition).
    const withStatus = await waitUntil("the source's Job status on the copy", async () => {
      const copied = await sameStatus('jobs', 'once');
      return (copied?.status as { conditions?: { type: string }[] } | undefined)?.conditions?.some((c) => c.type === 'Suspended') ? copied : undefined;
    });
    expect(withStatus.metadata.uid).toBe(copy.metadata.uid);

    // Equal copies: a full reconcile writes nothing, the generated selector included.
    await sync.mirrors.get('jobs.batch')!.reconcile();
    await sync.mirrors.get('deployments.apps')!.reconcile();
    expect((await read(destination, 'jobs', 'once'))!.metadata.resourceVersion).toBe(withStatus.metadata.resourceVersion);
  });

  it("a StatefulSet, a DaemonSet and a CronJob arrive equal, with the source's status (a CronJob's patched through /status)", async () => {
    const sts = await create('statefulsets', {
      metadata: { name: 'db' },
      spec: { replicas: 1, serviceName: 'db', selector: { matchLabels: { app: 'db' } }, template: podTemplate({ app: 'db' }) },
    });
    const ds = await create('daemonsets', {
      metadata: { name: 'agent' },
      spec: { selector: { matchLabels: { app: 'agent' } }, template: podTemplate({ app: 'agent' }) },
    });
    const cron = await create('cronjobs', {
      metadata: { name: 'nightly' },
      spec: { schedule: '0 3 * * *', suspend: true, jobTemplate: { spec: { template: podTemplate({ task: 'nightly' }) } } },
    });
    expect(comparable(await copyOf('statefulsets', 'db'))).toEqual(comparable(sts));
    expect(comparable(await copyOf('daemonsets', 'agent'))).toEqual(comparable(ds));
    expect(comparable(await copyOf('cronjobs', 'nightly'))).toEqual(comparable(cron));

    const lastScheduleTime = '2026-01-02T03:00:00Z';
    await kubectlOk('source', [
      '-n',
      namespace,
      'patch',
      'cronjob',
      'nightly',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { lastScheduleTime } }),
    ]);
    const cronCopy = await waitUntil("the source's CronJob status on the copy", () => sameStatus('cronjobs', 'nightly'));
    expect(cronCopy.status).toEqual({ lastScheduleTime });
    // The StatefulSet's status is the source's statefulset controller's (observedGeneration set there only).
    const stsCopy = await waitUntil("the source's StatefulSet status on the copy", async () => {
      const copied = await sameStatus('statefulsets', 'db');
      return (copied?.status as { observedGeneration?: number } | undefined)?.observedGeneration ? copied : undefined;
    });
    expect(stsCopy.metadata.uid).not.toBe(sts.metadata.uid);
  });

  it('a Service of each type arrives with the ClusterIPs and nodePorts the source chose', async () => {
    const port = { port: 80, targetPort: 8080, protocol: 'TCP' };
    const services = [
      { metadata: { name: 'cluster-ip' }, spec: { type: 'ClusterIP', selector: { app: 'web' }, ports: [port] } },
      { metadata: { name: 'node-port' }, spec: { type: 'NodePort', selector: { app: 'web' }, ports: [port] } },
      { metadata: { name: 'load-balancer' }, spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [port] } },
      { metadata: { name: 'headless' }, spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [port] } },
      { metadata: { name: 'external' }, spec: { type: 'ExternalName', externalName: 'db.example.com' } },
    ];
    for (const service of services) {
      const own = await create('services', service);
      const copy = await copyOf('services', service.metadata.name);
      expect(comparable(copy)).toEqual(comparable(own));
    }
    const nodePort = (await read(destination, 'services', 'node-port'))!.spec as { ports: { nodePort?: number }[]; clusterIP: string };
    expect(nodePort.ports[0]!.nodePort).toEqual(((await read(source, 'services', 'node-port'))!.spec as typeof nodePort).ports[0]!.nodePort);
  });

  it('a 1 MB ConfigMap, a Secret and a leader-election Lease arrive equal', async () => {
    const big = await create('configmaps', { metadata: { name: 'big' }, data: { blob: 'x'.repeat(1024 * 1024) } });
    const secret = await create('secrets', { metadata: { name: 'plain' }, type: 'Opaque', stringData: { password: 's3cret' } });
    const now = new Date().toISOString().replace('Z', '000Z');
    const lease = await create('leases', {
      metadata: { name: 'controller-leader' },
      spec: { holderIdentity: 'controller-0_1234', leaseDurationSeconds: 15, acquireTime: now, renewTime: now, leaseTransitions: 2 },
    });
    expect(comparable(await copyOf('configmaps', 'big'))).toEqual(comparable(big));
    expect(comparable(await copyOf('secrets', 'plain'))).toEqual(comparable(secret));
    expect(comparable(await copyOf('leases', 'controller-leader'))).toEqual(comparable(lease));
  });
});
