// Issue 7's acceptance on the lab's two real clusters: kubectl, a client-node informer and
// python3-kubernetes, through sidecar -> aggregator, keep working while the owner of secrets, services
// and a custom resource type moves source -> destination -> source, with a workload creating, updating
// and deleting objects of the kind all along. (configmaps: aggregator-bridge.test.ts.) A lab of its
// own: the moves fence the source, which would refuse other suites' writes to the shared lab.
import { stopPrivateLab } from '../helpers/private-lab.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { installTestCrd } from '../../lab/local-synchronizer.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { DEFAULT_SHARDS } from '../../lib/routing/resource-classes.js';
import { waitUntil } from '../../lib/wait-until.js';
import { CRD_SHARD } from '../../synchronizer/crd-readiness.js';
import { BackgroundWriter, type KindWrites } from '../helpers/background-writer.js';
import { startLabBridge, type LabBridge } from '../helpers/bridge-lab.js';
import { expectDecimalRVs, expectRVRules, startRecordedInformer } from '../helpers/informer-recorder.js';
import { createNamespace, kubeconfigPath, kubectl, kubectlOk, pythonList, type ListedObject } from '../helpers/lab-clients.js';
import { serviceAccountToken, tokenKubeconfig } from '../helpers/sidecar-lab.js';

const GROUP = 'transparency.e2e.cluster-bridge.io';
const WIDGETS = `widgets.${GROUP}`;

let bridge: LabBridge;
let namespace: string;
let kubeconfig: string;
let kc: k8s.KubeConfig;

/** One kind as the table drives it: its shard, how a workload writes it, what must be equal where. */
interface Kind {
  shard: string;
  /** kubectl's name for the resource. */
  resource: string;
  apiVersion: string;
  kind: string;
  collectionPath: () => string;
  list: () => Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>;
  /** The object's fields besides metadata, holding `value`. */
  body: (value: string) => Record<string, unknown>;
  /** A merge patch setting `value`. */
  patch: (value: string) => Record<string, unknown>;
  valueOf: (obj: ListedObject) => string | undefined;
  /** What both clusters must hold alike: the data or spec, and the fields the source allocated. */
  content: (obj: ListedObject) => unknown;
}

const base64 = (s: string) => Buffer.from(s).toString('base64');
type Fields = Record<string, unknown> & { spec?: Record<string, unknown>; data?: Record<string, string> };
const fields = (obj: ListedObject) => obj as Fields;
const core = () => kc.makeApiClient(k8s.CoreV1Api);

const KINDS: Kind[] = [
  {
    shard: 'secrets',
    resource: 'secrets',
    apiVersion: 'v1',
    kind: 'Secret',
    collectionPath: () => `/api/v1/namespaces/${namespace}/secrets`,
    list: () => core().listNamespacedSecret({ namespace }),
    body: (value) => ({ type: 'Opaque', data: { k: base64(value) } }),
    patch: (value) => ({ data: { k: base64(value) } }),
    valueOf: (obj) => (fields(obj).data?.k === undefined ? undefined : Buffer.from(fields(obj).data!.k!, 'base64').toString()),
    content: (obj) => ({ type: obj.type, data: obj.data }),
  },
  {
    shard: 'services',
    resource: 'services',
    apiVersion: 'v1',
    kind: 'Service',
    collectionPath: () => `/api/v1/namespaces/${namespace}/services`,
    list: () => core().listNamespacedService({ namespace }),
    // NodePort: the source allocates a ClusterIP and a nodePort, both must be the same in the destination.
    body: (value) => ({ spec: { type: 'NodePort', selector: { value }, ports: [{ port: 80, targetPort: 8080 }] } }),
    patch: (value) => ({ spec: { selector: { value } } }),
    valueOf: (obj) => (fields(obj).spec?.selector as Record<string, string> | undefined)?.value,
    content: (obj) => {
      const spec = fields(obj).spec as { clusterIP: string; clusterIPs: string[]; ipFamilies: string[]; ports: { nodePort?: number }[] };
      const allocated = { clusterIP: spec.clusterIP, clusterIPs: spec.clusterIPs, ipFamilies: spec.ipFamilies, nodePorts: spec.ports.map((p) => p.nodePort) };
      return { allocated, spec };
    },
  },
  {
    shard: WIDGETS,
    resource: WIDGETS,
    apiVersion: `${GROUP}/v1`,
    kind: 'Widget',
    collectionPath: () => `/apis/${GROUP}/v1/namespaces/${namespace}/widgets`,
    list: () =>
      kc.makeApiClient(k8s.CustomObjectsApi).listNamespacedCustomObject({ group: GROUP, version: 'v1', namespace, plural: 'widgets' }) as Promise<
        k8s.KubernetesListObject<k8s.KubernetesObject>
      >,
    body: (value) => ({ spec: { value } }),
    patch: (value) => ({ spec: { value } }),
    valueOf: (obj) => fields(obj).spec?.value as string | undefined,
    content: (obj) => ({ spec: obj.spec }),
  },
];

/** Half the creates by client-node, half by kubectl; updates by client-node, deletes by kubectl (both retry 503s as client-go does). */
function writesOf(kind: Kind): KindWrites {
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const header = (name: string) => ({ apiVersion: kind.apiVersion, kind: kind.kind, metadata: { name, namespace } });
  const kubectlOrThrow = async (args: string[], input?: string) => {
    const result = await kubectl(kubeconfig, ['-n', namespace, ...args], input);
    if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr.trim()}`);
  };
  return {
    async create(name, value, round) {
      const object = { ...header(name), ...kind.body(value) };
      if (round % 2 === 0) await objects.create(object);
      else await kubectlOrThrow(['create', '-f', '-'], JSON.stringify(object));
    },
    async update(name, value) {
      await objects.patch({ ...header(name), ...kind.patch(value) }, undefined, undefined, undefined, undefined, k8s.PatchStrategy.MergePatch);
    },
    remove: (name) => kubectlOrThrow(['delete', kind.resource, name, '--wait=false']),
  };
}

/** The objects named `prefix-*` in a list, by name. */
function byName(items: readonly ListedObject[], prefix: string): Map<string, ListedObject> {
  return new Map(items.filter((o) => o.metadata.name.startsWith(`${prefix}-`)).map((o) => [o.metadata.name, o]));
}

async function kubectlList(cluster: string, kind: Kind): Promise<ListedObject[]> {
  return (JSON.parse(await kubectlOk(cluster, ['-n', namespace, 'get', kind.resource, '-o', 'json'])) as { items: ListedObject[] }).items;
}

/** python3-kubernetes and kubectl, both through the bridge, list the same objects at the same RVs with the same content. */
async function expectPythonListsAsKubectl(kind: Kind, prefix: string): Promise<void> {
  const summary = (items: readonly ListedObject[]) =>
    [...byName(items, prefix)].map(([name, o]) => ({ name, rv: o.metadata.resourceVersion, content: kind.content(o) }));
  const python = await pythonList(kubeconfig, kind.collectionPath());
  const cli = await kubectlList(kubeconfig, kind);
  expect(summary(python.items)).toEqual(summary(cli));
  expectDecimalRVs([python.metadata.resourceVersion, ...python.items.map((o) => o.metadata.resourceVersion)]);
  expect(summary(cli).length).toBeGreaterThan(0);
}

beforeAll(async () => {
  namespace = await createNamespace('source', 'transparency');
  const token = await serviceAccountToken(namespace);
  const source = KubeRestClient.load(kubeconfigPath('source'));
  try {
    // Before the synchronizer starts: it finds a custom resource shard's CRD at start.
    await installTestCrd([source], GROUP, 'widgets', 'Widget');
  } finally {
    source.close();
  }
  // `edit` does not cover a new custom resource type: a Role does, mirrored like the RoleBinding.
  await kubectlOk('source', ['-n', namespace, 'create', 'role', 'widgets', '--verb=*', `--resource=${WIDGETS}`]);
  await kubectlOk('source', ['-n', namespace, 'create', 'rolebinding', 'widgets', '--role=widgets', `--serviceaccount=${namespace}:tester`]);
  bridge = await startLabBridge({ namespace, shards: [...DEFAULT_SHARDS, CRD_SHARD, WIDGETS] });
  kubeconfig = tokenKubeconfig(bridge.sidecar.dir, 'transparency', bridge.sidecar.server, bridge.sidecar.caBundlePem, token, namespace);
  kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  // The destination serves the workload by impersonation: its RBAC, and the CRD, must be mirrored first.
  await waitUntil('the CRD and the RBAC mirrored to the destination', async () => {
    const crd = await kubectl('destination', ['get', 'crd', WIDGETS, '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}']);
    const rbac = await kubectl('destination', ['-n', namespace, 'get', 'rolebinding/widgets', 'rolebinding/tester-edit', 'role/widgets', '-o', 'name']);
    return crd.stdout === 'True' && rbac.code === 0 ? true : undefined;
  });
}, 240_000);

afterAll(async () => {
  await bridge?.close();
  await stopPrivateLab();
}, 120_000);

describe('the bridge is transparent to real clients while a shard moves source -> destination -> source', () => {
  it.each(KINDS.map((kind) => [kind.shard, kind] as const))('%s', async (_shard, kind) => {
    const prefix = kind.kind.toLowerCase();
    const recorder = await startRecordedInformer(kc, kind.collectionPath(), kind.list);
    const added = (name: string) => recorder.events.some((e) => e.type === 'add' && e.name === name);
    const writer = new BackgroundWriter(prefix, writesOf(kind), added);
    writer.start();
    try {
      try {
        await writer.moreCreates(3);
        // Creates racing each hand-off: some answered before it, some held (503, retried), some after.
        const [toDestination] = await Promise.all([bridge.aggregator.handoff!.changeOwner(kind.shard, 'destination', 'e2e'), writer.burst(6)]);
        expect(toDestination.epoch).toMatchObject({ epoch: 1, backend: 'destination' });
        await writer.moreCreates(4);
        // While the destination owns the shard: python3-kubernetes reads what kubectl reads.
        await writer.pause();
        await expectPythonListsAsKubectl(kind, prefix);
        writer.resume();
        await writer.moreCreates(2);
        const [back] = await Promise.all([bridge.aggregator.handoff!.changeOwner(kind.shard, 'source', 'e2e'), writer.burst(6)]);
        expect(back.epoch).toMatchObject({ epoch: 2, backend: 'source' });
        await writer.moreCreates(3);
      } finally {
        await writer.stop();
      }
      // Only 503s during the hand-offs, and those were retried.
      expect(writer.errors).toEqual([]);
      // The informer ends holding exactly what exists, with each object's latest data.
      const expected = Object.fromEntries(writer.latest);
      const cached = () =>
        Object.fromEntries(
          recorder.informer
            .list(namespace)
            .flatMap((o) => (o.metadata!.name!.startsWith(`${prefix}-`) ? [[o.metadata!.name!, kind.valueOf(o as ListedObject)]] : [])),
        );
      await waitUntil(
        'the informer to hold what exists',
        () => JSON.stringify(Object.entries(cached()).sort()) === JSON.stringify(Object.entries(expected).sort()),
        { timeoutMs: 30_000 },
      ).catch(() => undefined);
      const inCache = cached();
      const differing = [...new Set([...Object.keys(inCache), ...Object.keys(expected)])].filter((name) => inCache[name] !== expected[name]);
      if (differing.length > 0) {
        // What each side holds, and what the informer saw, for the names that differ: where a failure came from.
        const [source, destination] = [byName(await kubectlList('source', kind), prefix), byName(await kubectlList('destination', kind), prefix)];
        const story = differing.map((name) => ({
          name,
          source: source.has(name),
          destination: destination.has(name),
          deletedByWriter: writer.deleted.has(name),
          events: recorder.events.filter((e) => e.name === name),
          lists: recorder.listRVs,
        }));
        process.stderr.write(`${kind.shard}: informer differs from the acknowledged writes: ${JSON.stringify(story)}\n`);
      }
      expect(inCache).toEqual(expected);
      const throughBridge = Object.fromEntries([...byName(await kubectlList(kubeconfig, kind), prefix)].map(([name, o]) => [name, kind.valueOf(o)]));
      expect(throughBridge).toEqual(expected);
      // No missed events: every create seen as an add, every delete as a delete.
      expect(writer.created.filter((name) => !added(name))).toEqual([]);
      expect([...writer.deleted].filter((name) => !recorder.events.some((e) => e.type === 'delete' && e.name === name))).toEqual([]);
      expect(writer.deleted.size).toBeGreaterThan(0);
      // RVs: decimals below 2^63, never decreasing per object nor across the shard's lists.
      expectRVRules(recorder);
      // One list at the start, then a relist after the moves (a 410 for the old epoch's RV; one relist
      // covers both moves when the reflector's backoff spans them, seen at load 30), and no 410 loop.
      expect(recorder.listRVs.length).toBeGreaterThanOrEqual(2);
      expect(recorder.listRVs.length).toBeLessThanOrEqual(8);
    } finally {
      await recorder.stop();
    }
    await expectPythonListsAsKubectl(kind, prefix);

    // Every acknowledged create that was not deleted is in both clusters, with the same content and
    // the same allocated fields; the deleted ones are in neither.
    const inBoth = async () => {
      const [source, destination] = [byName(await kubectlList('source', kind), prefix), byName(await kubectlList('destination', kind), prefix)];
      const view = (objects: Map<string, ListedObject>) =>
        Object.fromEntries([...objects].map(([name, o]) => [name, { value: kind.valueOf(o), content: kind.content(o) }]));
      return { source: view(source), destination: view(destination) };
    };
    const converged = await waitUntil('both clusters to hold the same objects', async () => {
      const both = await inBoth();
      return JSON.stringify(both.source) === JSON.stringify(both.destination) && Object.keys(both.source).length === writer.latest.size ? both : undefined;
    }).catch(inBoth);
    if (JSON.stringify(converged.destination) !== JSON.stringify(converged.source)) {
      // The synchronizer's view of the shard: where a copy that never came got stuck.
      const progress = bridge.synchronizer.status().mirrors.find((m) => m.shard === kind.shard);
      process.stderr.write(`${kind.shard}: the clusters differ; the synchronizer's mirror: ${JSON.stringify(progress)}\n`);
    }
    expect(converged.destination).toEqual(converged.source);
    if (kind.shard === 'services') {
      // Not vacuous: the source allocated a ClusterIP in its own range and a nodePort for each.
      for (const { content } of Object.values(converged.source) as { content: { allocated: { clusterIP: string; nodePorts: unknown[] } } }[]) {
        expect(content.allocated.clusterIP).toMatch(/^10\.96\.\d+\.\d+$/);
        expect(content.allocated.nodePorts).toEqual([expect.any(Number)]);
      }
    }
    expect(Object.fromEntries(Object.entries(converged.source).map(([name, o]) => [name, o.value]))).toEqual(Object.fromEntries(writer.latest));
  });
});
