// The bridge end to end on the lab's two real clusters: real clients (kubectl, a client-node informer,
// python3-kubernetes) through sidecar -> aggregator while the configmaps shard moves
// source -> destination -> source, with the synchronizer mirroring and answering catch-up. A lab of its
// own: the moves fence the source, which would refuse other suites' writes to the shared lab. The
// aggregator reaches the source as shipped: the ServiceAccount and rights of
// manifests/source/aggregator-rbac.yaml, so TokenReviews, SubjectAccessReviews, source-first Service
// creates and the fence below all run with exactly those rights.
import { stopPrivateLab } from '../helpers/private-lab.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { issueSidecarClientCert } from '../../certs/bridge-certs.js';
import { startLabBridge, startSecondAggregator, type LabBridge } from '../helpers/bridge-lab.js';
import { expectRVRules, startRecordedInformer } from '../helpers/informer-recorder.js';
import { createNamespace, kubeconfigPath, kubectl, kubectlOk, pythonList, run, uniqueName, waitForRoleBindingsOnDestination } from '../helpers/lab-clients.js';
import { waitUntil } from '../../lib/wait-until.js';
import { MIRROR_OF_UID_ANNOTATION } from '../../lib/names.js';
import { shippedAggregatorSourceKubeconfig } from '../helpers/shipped-source-identity.js';
import { serviceAccountToken, tokenKubeconfig } from '../helpers/sidecar-lab.js';
import { requireLab } from '../../lab/lab-files.js';
import { labDir } from '../../lib/process/paths.js';

let bridge: LabBridge;
let namespace: string;
let token: string;
let kubeconfig: string;
let aggregatorSourceKubeconfig: string;
/** RVs a client saw per epoch, for the cross-epoch checks. */
const rvOfC0: string[] = [];

const viaBridge = (args: string[], input?: string) => kubectl(kubeconfig, ['-n', namespace, ...args], input);

async function rvThroughBridge(name: string): Promise<string> {
  const out = await viaBridge(['get', 'configmap', name, '-o', 'jsonpath={.metadata.resourceVersion}']);
  expect(out.code).toBe(0);
  return out.stdout.trim();
}

/** One HTTPS call straight to the aggregator, with or without a sidecar client certificate. */
function callAggregator(
  path: string,
  headers: Record<string, string>,
  client?: { certPem: string; keyPem: string },
  method = 'GET',
  base = bridge.aggregatorUrl,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const req = request(url, { method, headers, ca: bridge.bridgeCa.certPem, cert: client?.certPem, key: client?.keyPem, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  namespace = await createNamespace('source', 'bridge');
  token = await serviceAccountToken(namespace);
  aggregatorSourceKubeconfig = await shippedAggregatorSourceKubeconfig(mkdtempSync(join(tmpdir(), 'bridge-aggregator-source-')));
  bridge = await startLabBridge({ namespace, aggregatorSourceKubeconfig });
  kubeconfig = tokenKubeconfig(bridge.sidecar.dir, 'bridge', bridge.sidecar.server, bridge.sidecar.caBundlePem, token, namespace);
  await waitForRoleBindingsOnDestination(namespace);
}, 180_000);

afterAll(async () => {
  await bridge?.close();
  await stopPrivateLab();
}, 120_000);

describe('the aggregator on the lab', () => {
  it("reaches the source as the shipped ServiceAccount, which may not touch workloads' objects itself", async () => {
    const whoami = await kubectlOk(aggregatorSourceKubeconfig, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
    expect(whoami).toBe('system:serviceaccount:cluster-bridge-system:cluster-bridge-aggregator');
    const canI = await kubectl(aggregatorSourceKubeconfig, ['-n', namespace, 'auth', 'can-i', 'create', 'configmaps']);
    expect(canI.stdout.trim()).toBe('no');
  });

  it('before any move, answers exactly as the source does (same objects, same resourceVersions)', async () => {
    expect((await viaBridge(['create', 'configmap', 'c0', '--from-literal=k=v0'])).code).toBe(0);
    const throughBridge = await rvThroughBridge('c0');
    const direct = await kubectlOk('source', ['-n', namespace, 'get', 'configmap', 'c0', '-o', 'jsonpath={.metadata.resourceVersion}']);
    expect(throughBridge).toBe(direct.trim());
    rvOfC0.push(throughBridge);
  });

  it('kubectl, a client-node informer and python3-kubernetes keep working while configmaps move source -> destination -> source', async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    const api = kc.makeApiClient(k8s.CoreV1Api);
    const recorder = await startRecordedInformer(kc, `/api/v1/namespaces/${namespace}/configmaps`, () => api.listNamespacedConfigMap({ namespace }));
    const informer = recorder.informer;
    try {
      expect((await viaBridge(['create', 'configmap', 'c1', '--from-literal=k=v1'])).code).toBe(0);

      const toDestination = await bridge.aggregator.handoff!.changeOwner('configmaps', 'destination', 'e2e');
      expect(toDestination.epoch).toMatchObject({ epoch: 1, backend: 'destination' });
      rvOfC0.push(await rvThroughBridge('c0'));
      expect((await viaBridge(['create', 'configmap', 'c2', '--from-literal=k=v2'])).code).toBe(0);
      // Written by the destination, mirrored back to the source with the same data.
      expect(await kubectlOk('destination', ['-n', namespace, 'get', 'configmap', 'c2', '-o', 'jsonpath={.data.k}'])).toBe('v2');
      await waitUntil('c2 mirrored to the source', async () =>
        (await kubectl('source', ['-n', namespace, 'get', 'configmap', 'c2', '-o', 'jsonpath={.data.k}'])).stdout === 'v2' ? true : undefined,
      );
      expect((await viaBridge(['patch', 'configmap', 'c0', '--type=merge', '-p', '{"data":{"k":"v0-patched"}}'])).code).toBe(0);

      const listed = Object.fromEntries(
        (await pythonList(kubeconfig, `/api/v1/namespaces/${namespace}/configmaps`)).items.map((i) => [i.metadata.name, i.data]),
      );
      expect(listed.c0).toEqual({ k: 'v0-patched' });
      expect(listed.c2).toEqual({ k: 'v2' });

      const back = await bridge.aggregator.handoff!.changeOwner('configmaps', 'source', 'e2e');
      expect(back.epoch).toMatchObject({ epoch: 2, backend: 'source' });
      rvOfC0.push(await rvThroughBridge('c0'));
      expect((await viaBridge(['create', 'configmap', 'c3', '--from-literal=k=v3'])).code).toBe(0);

      await waitUntil('the informer to hold c0..c3 with the latest data', async () => {
        const cached = informer.list(namespace).filter((c) => /^c\d$/.test(c.metadata!.name!));
        const c0 = cached.find((c) => c.metadata!.name === 'c0');
        return cached.length === 4 && c0?.data?.k === 'v0-patched' ? true : undefined;
      });
      // Every RV any client saw is a decimal below 2^63; RVs never go backwards per object nor per list.
      expectRVRules(recorder);
      // Each owner change closed the watch once; the informer relisted, it did not loop on 410.
      expect(recorder.listRVs.length).toBeGreaterThanOrEqual(2);
      expect(recorder.listRVs.length).toBeLessThanOrEqual(8);
      // c0's RV grew at each owner change although c0 itself was written only once in between.
      const [epoch0, epoch1, epoch2] = rvOfC0.map(BigInt);
      expect(epoch1!).toBeGreaterThan(epoch0!);
      expect(epoch2!).toBeGreaterThan(epoch1!);
    } finally {
      await recorder.stop();
    }
    // Nothing acknowledged was lost: every object is in both clusters with the same data (c3, written
    // to the source after the move back, reaches the destination's copy through the synchronizer).
    const expected = 'c0=v0-patched c1=v1 c2=v2 c3=v3';
    for (const cluster of ['source', 'destination']) {
      const args = ['-n', namespace, 'get', 'configmaps', 'c0', 'c1', 'c2', 'c3', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.data.k} {end}'];
      const read = async () => {
        const got = await kubectl(cluster, args);
        return got.code === 0 ? got.stdout.trim() : got.stderr;
      };
      // On a timeout the assertion shows what the cluster holds instead.
      const data = await waitUntil(`c0..c3 in the ${cluster}`, async () => ((await read()) === expected ? expected : undefined)).catch(read);
      expect(data).toBe(expected);
    }
  });

  it("fences the source: a moved shard refuses direct writes with a message naming the destination, the bridge's own pass", async () => {
    await bridge.aggregator.handoff!.changeOwner('configmaps', 'destination', 'e2e');
    const direct = await kubectl('source', ['-n', namespace, 'create', 'configmap', 'forked', '--from-literal=k=x']);
    expect(direct.code).not.toBe(0);
    expect(direct.stderr).toContain('configmaps is served by the destination cluster while cluster-bridge migrates it');
    // Other shards stay writable on the source; the bridge's writes (the mirror) still land there.
    expect((await kubectl('source', ['-n', namespace, 'create', 'serviceaccount', uniqueName('sa')])).code).toBe(0);
    expect((await viaBridge(['create', 'configmap', 'c4', '--from-literal=k=v4'])).code).toBe(0);
    await waitUntil('c4 mirrored to the source through the fence', async () =>
      (await kubectl('source', ['-n', namespace, 'get', 'configmap', 'c4', '-o', 'name'])).code === 0 ? true : undefined,
    );
    await bridge.aggregator.handoff!.changeOwner('configmaps', 'source', 'e2e');
    expect((await kubectl('source', ['-n', namespace, 'create', 'configmap', 'unfenced', '--from-literal=k=y'])).code).toBe(0);
    rvOfC0.push(await rvThroughBridge('c0'));
  });

  it('answers 410 to a list from an older epoch and 409 to a write built on one', async () => {
    const olderRV = rvOfC0[1]!;
    const list = await callAggregator(`/api/v1/namespaces/${namespace}/configmaps?resourceVersion=${olderRV}&resourceVersionMatch=NotOlderThan`, {
      authorization: `Bearer ${token}`,
    });
    expect(list.status).toBe(410);
    expect(JSON.parse(list.body)).toMatchObject({ kind: 'Status', reason: 'Expired', code: 410 });
    const stale = await viaBridge(
      ['replace', '-f', '-'],
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c1', namespace, resourceVersion: olderRV }, data: { k: 'lost' } }),
    );
    expect(stale.code).not.toBe(0);
    expect(stale.stderr).toContain('the object has been modified');
    expect(await kubectlOk('source', ['-n', namespace, 'get', 'configmap', 'c1', '-o', 'jsonpath={.data.k}'])).toBe('v1');
  });

  it('bridgectl aggregator move drives a hand-off through the desired owners', async () => {
    const moved = await run(process.execPath, [
      'dist/cli/main.js',
      'aggregator',
      'move',
      '--shard',
      'secrets',
      '--to',
      'destination',
      '--kubeconfig',
      kubeconfigPath('destination'),
    ]);
    expect(moved.stdout).toContain('secrets is served by the destination (epoch 1');
    expect((await viaBridge(['create', 'secret', 'generic', 's1', '--from-literal=p=q'])).code).toBe(0);
    expect(await kubectlOk('destination', ['-n', namespace, 'get', 'secret', 's1', '-o', 'jsonpath={.metadata.name}'])).toBe('s1');
    await waitUntil('s1 mirrored to the source', async () =>
      (await kubectl('source', ['-n', namespace, 'get', 'secret', 's1', '-o', 'name'])).code === 0 ? true : undefined,
    );
  });

  it('a Service created while the destination owns services gets its ClusterIP and nodePort from the source, the same in both clusters', async () => {
    await bridge.aggregator.handoff!.changeOwner('services', 'destination', 'e2e');
    try {
      const name = uniqueName('svc');
      // kubectl's typed `create service` sends protobuf; the bridge passes it to the source undecoded.
      const created = await viaBridge(['create', 'service', 'nodeport', name, '--tcp=80:8080']);
      expect([created.code, created.stderr]).toEqual([0, '']);
      const fields = '{.spec.clusterIP} {.spec.ports[0].nodePort} {.spec.ipFamilies[0]} {.metadata.uid}';
      // Both exist when the create is answered (patent 0096): no waiting for the synchronizer.
      const [ipD, portD, familyD] = (await kubectlOk('destination', ['-n', namespace, 'get', 'service', name, '-o', `jsonpath=${fields}`])).split(' ');
      const [ipS, portS, familyS, uidS] = (await kubectlOk('source', ['-n', namespace, 'get', 'service', name, '-o', `jsonpath=${fields}`])).split(' ');
      expect([ipS, portS, familyS]).toEqual([ipD, portD, familyD]);
      // The private lab's destination range (10.96.0.0/12) holds the source's (10.96.0.0/16) 16 times
      // over: a ClusterIP in the source's range on both sides is the source's choice.
      expect(ipD).toMatch(/^10\.96\.\d+\.\d+$/);
      // The synchronizer keeps the source's object as the copy (same UID) and mirrors later changes into it.
      expect((await viaBridge(['label', 'service', name, 'tier=web'])).code).toBe(0);
      const labelled = await waitUntil('the label mirrored to the source', async () => {
        const got = await kubectl('source', ['-n', namespace, 'get', 'service', name, '-o', 'jsonpath={.metadata.labels.tier} {.metadata.uid}']);
        return got.stdout.startsWith('web ') ? got.stdout.split(' ')[1] : undefined;
      });
      expect(labelled).toBe(uidS);
      // A JSON create with generateName: the name is the source's choice too.
      const generated = JSON.stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { generateName: 'gen-' },
        spec: { type: 'NodePort', ports: [{ port: 81 }] },
      });
      const made = (
        await viaBridge(['create', '-f', '-', '-o', 'jsonpath={.metadata.name} {.spec.clusterIP} {.spec.ports[0].nodePort}'], generated)
      ).stdout.split(' ');
      expect(made[0]).toMatch(/^gen-/);
      const inSource = await kubectlOk('source', [
        '-n',
        namespace,
        'get',
        'service',
        made[0]!,
        '-o',
        'jsonpath={.metadata.name} {.spec.clusterIP} {.spec.ports[0].nodePort}',
      ]);
      expect(inSource.split(' ')).toEqual(made);
      // Adopted by the synchronizer although nothing changed since: the source object's mark becomes the
      // destination object's UID (it stayed empty when both were equal, and later updates on the source never left it).
      const annotationsOf = async (side: string) =>
        JSON.parse(await kubectlOk(side, ['-n', namespace, 'get', 'service', made[0]!, '-o', 'json'])) as {
          metadata: { uid: string; annotations?: Record<string, string> };
        };
      const destinationUid = (await annotationsOf('destination')).metadata.uid;
      await waitUntil('the source-first Service adopted', async () =>
        (await annotationsOf('source')).metadata.annotations?.[MIRROR_OF_UID_ANNOTATION] === destinationUid ? true : undefined,
      );
      // A server-side apply that creates (kubectl apply --server-side): source first too; applied again, it updates as usual.
      const applied = uniqueName('ssa');
      const manifest = (labels: Record<string, string>) =>
        JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: applied, labels }, spec: { type: 'NodePort', ports: [{ port: 82 }] } });
      const appliedFields = ['-n', namespace, 'get', 'service', applied, '-o', 'jsonpath={.spec.clusterIP} {.spec.ports[0].nodePort} {.metadata.labels.round}'];
      for (const round of ['1', '2']) {
        const result = await viaBridge(['apply', '--server-side', '--field-manager=e2e-apply', '-f', '-'], manifest({ round }));
        expect([result.code, result.stderr]).toEqual([0, '']);
      }
      const [ipA, portA, roundA] = (await kubectlOk('destination', appliedFields)).split(' ');
      expect(ipA).toMatch(/^10\.96\.\d+\.\d+$/);
      expect(roundA).toBe('2');
      await waitUntil('the applied Service mirrored to the source', async () =>
        (await kubectl('source', appliedFields)).stdout === `${ipA} ${portA} 2` ? true : undefined,
      );
      // An update that allocates (ExternalName -> NodePort: a ClusterIP and a nodePort): made on the source first too,
      // so both clusters hold the source's values when it is answered.
      const external = uniqueName('ext');
      expect((await viaBridge(['create', 'service', 'externalname', external, '--external-name=example.com'])).code).toBe(0);
      const toNodePort = { spec: { type: 'NodePort', externalName: null, ports: [{ port: 83 }] } };
      const patched = await viaBridge(['patch', 'service', external, '--type=merge', '-p', JSON.stringify(toNodePort)]);
      expect([patched.code, patched.stderr]).toEqual([0, '']);
      const externalFields = ['-n', namespace, 'get', 'service', external, '-o', 'jsonpath={.spec.type} {.spec.clusterIP} {.spec.ports[0].nodePort}'];
      const inDestination = await kubectlOk('destination', externalFields);
      expect(inDestination).toMatch(/^NodePort 10\.96\.\d+\.\d+ \d+$/);
      expect(await kubectlOk('source', externalFields)).toBe(inDestination);
      // Server-side applies that update and allocate (ClusterIP or ExternalName -> NodePort): applied on the source first
      // too, so both clusters hold the source's ClusterIP and nodePort when they are answered, before the synchronizer
      // could copy anything (from ExternalName, the destination would choose a ClusterIP of its own, most likely outside 10.96.x).
      const applyArgs = ['apply', '--server-side', '--field-manager=e2e-apply', '-f', '-'];
      const service = (name: string, spec: object) => JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec });
      const typeIPPort = 'jsonpath={.spec.type} {.spec.clusterIP} {.spec.ports[0].nodePort}';
      for (const from of [{ type: 'ClusterIP' }, { type: 'ExternalName', externalName: 'example.com' }]) {
        const promoted = uniqueName('ssa-np');
        const first = await viaBridge(applyArgs, service(promoted, { ...from, ports: [{ port: 84 }] }));
        expect([first.code, first.stderr]).toEqual([0, '']);
        const promotedAnswer = await viaBridge([...applyArgs, '-o', typeIPPort], service(promoted, { type: 'NodePort', ports: [{ port: 84 }] }));
        expect([from.type, promotedAnswer.code, promotedAnswer.stderr]).toEqual([from.type, 0, '']);
        expect(promotedAnswer.stdout).toMatch(/^NodePort 10\.96\.\d+\.\d+ \d+$/);
        const promotedFields = ['-n', namespace, 'get', 'service', promoted, '-o', typeIPPort];
        expect([from.type, await kubectlOk('source', promotedFields)]).toEqual([from.type, promotedAnswer.stdout]);
        expect([from.type, await kubectlOk('destination', promotedFields)]).toEqual([from.type, promotedAnswer.stdout]);
      }
      // An apply asking for a nodePort the source's nodes already use (by a Service of the source's own kube-system,
      // never mirrored; free in the destination) is refused as the source refuses it, and the destination keeps its copy.
      const holder = uniqueName('port-holder');
      await kubectlOk('source', ['-n', 'kube-system', 'create', 'service', 'nodeport', holder, '--tcp=80:80']);
      try {
        const taken = Number(await kubectlOk('source', ['-n', 'kube-system', 'get', 'service', holder, '-o', 'jsonpath={.spec.ports[0].nodePort}']));
        const wanting = uniqueName('ssa-taken');
        expect((await viaBridge(applyArgs, service(wanting, { type: 'ClusterIP', ports: [{ port: 85 }] }))).code).toBe(0);
        const refused = await viaBridge(applyArgs, service(wanting, { type: 'NodePort', ports: [{ port: 85, nodePort: taken }] }));
        expect(refused.code).not.toBe(0);
        expect(refused.stderr).toContain('provided port is already allocated');
        const wantingFields = ['-n', namespace, 'get', 'service', wanting, '-o', 'jsonpath={.spec.type}'];
        expect(await kubectlOk('destination', wantingFields)).toBe('ClusterIP');
      } finally {
        await kubectl('source', ['-n', 'kube-system', 'delete', 'service', holder]);
      }
      const metrics = await (await fetch(`http://127.0.0.1:${bridge.aggregator.opsPort}/metrics`)).text();
      expect(metrics).toMatch(/cluster_bridge_aggregator_source_first_creates_total\{shard="services",outcome="created"\} 7/);
      expect(metrics).toMatch(/cluster_bridge_aggregator_source_first_updates_total\{shard="services",outcome="updated"\} 3/);
      expect(metrics).toMatch(/cluster_bridge_aggregator_source_first_updates_total\{shard="services",outcome="refused-by-source"\} 1/);
    } finally {
      await bridge.aggregator.handoff!.changeOwner('services', 'source', 'e2e');
    }
  });

  it('a Service create the destination refuses leaves nothing in the source, whether it refuses the dry run or the create itself', async () => {
    // A destination policy: `always` is refused in the dry run already, `real` only when it is no dry run.
    const policy = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: e2e-deny-services}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: ["v1"], operations: [CREATE], resources: [services]}]
  validations:
    - expression: "!has(object.metadata.labels) || !('e2e-deny' in object.metadata.labels) || (object.metadata.labels['e2e-deny'] == 'real' && request.dryRun == true)"
      message: e2e policy refuses this Service
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: e2e-deny-services}
spec: {policyName: e2e-deny-services, validationActions: [Deny]}
`;
    expect((await kubectl('destination', ['apply', '-f', '-'], policy)).code).toBe(0);
    await bridge.aggregator.handoff!.changeOwner('services', 'destination', 'e2e');
    try {
      const service = (name: string, deny: string) =>
        JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name, labels: { 'e2e-deny': deny } }, spec: { ports: [{ port: 80 }] } });
      await waitUntil('the destination enforces the e2e policy', async () => {
        const probe = await kubectl('destination', ['-n', namespace, 'create', '--dry-run=server', '-f', '-'], service('probe', 'always'));
        return probe.stderr.includes('e2e policy refuses') ? true : undefined;
      });
      for (const deny of ['always', 'real']) {
        const name = uniqueName(`refused-${deny}`);
        const created = await viaBridge(['create', '-f', '-'], service(name, deny));
        expect(created.code).not.toBe(0);
        expect(created.stderr).toContain('e2e policy refuses this Service');
        for (const side of ['source', 'destination'] as const) {
          const got = await kubectl(side, ['-n', namespace, 'get', 'service', name, '-o', 'name']);
          expect(got.stderr).toContain('NotFound');
        }
      }
      const metrics = await (await fetch(`http://127.0.0.1:${bridge.aggregator.opsPort}/metrics`)).text();
      expect(metrics).toMatch(/source_first_creates_total\{shard="services",outcome="refused-by-destination-dry-run"\} 1/);
      expect(metrics).toMatch(/source_first_creates_total\{shard="services",outcome="refused-by-destination"\} 1/);
    } finally {
      await bridge.aggregator.handoff!.changeOwner('services', 'source', 'e2e');
      await kubectl('destination', ['delete', '-f', '-'], policy);
    }
  });
});

describe('identity at the aggregator', () => {
  it('refuses spoofed bridge and front-proxy headers, and a certificate claiming another namespace', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const path = `/api/v1/namespaces/${namespace}/configmaps`;
    const noCert = await callAggregator(path, { ...auth, 'X-Bridge-Namespace': namespace });
    expect(noCert.status).toBe(403);
    expect(noCert.body).toContain('accepted only from a cluster-bridge sidecar');
    const frontProxy = await callAggregator(path, { ...auth, 'X-Remote-User': 'system:admin' });
    expect(frontProxy.status).toBe(403);
    const otherNamespace = await issueSidecarClientCert(bridge.issuers.client, { namespace: 'someone-else' });
    const claim = await callAggregator(path, { ...auth, 'X-Bridge-Namespace': namespace }, otherNamespace);
    expect(claim.status).toBe(403);
    expect(claim.body).toContain('cannot claim namespace');
    const own = await callAggregator(path, { ...auth, 'X-Bridge-Namespace': 'someone-else' }, otherNamespace);
    expect(own.status).toBe(200);
  });

  it('a token the source rejects gets 401 from a destination-owned shard', async () => {
    const answer = await callAggregator(`/api/v1/namespaces/${namespace}/secrets`, { authorization: 'Bearer not-a-real-token' });
    expect(answer.status).toBe(401);
  });

  it('impersonation is decided as the source decides it (its own filters replayed, docs/adr/0016), and honoured with RBAC', async () => {
    const as = ['--as', `system:serviceaccount:${namespace}:tester`];
    const sourcePem = readFileSync(join(labDir(), 'source', 'pki', 'ca.crt'), 'utf8');
    const direct = tokenKubeconfig(bridge.sidecar.dir, 'direct', requireLab().clusters.source.server, sourcePem, token, namespace);
    const [viaBridge, viaSource] = [
      await kubectl(kubeconfig, ['-n', namespace, 'get', 'secrets', ...as]),
      await kubectl(direct, ['-n', namespace, 'get', 'secrets', ...as]),
    ];
    expect([viaBridge.code, viaBridge.stderr]).toEqual([viaSource.code, viaSource.stderr]);
    await kubectlOk('source', ['create', 'clusterrole', `${namespace}-impersonate`, '--verb=impersonate', '--resource=users,groups,serviceaccounts']);
    await kubectlOk('source', [
      'create',
      'clusterrolebinding',
      `${namespace}-impersonate`,
      `--clusterrole=${namespace}-impersonate`,
      `--serviceaccount=${namespace}:tester`,
    ]);
    try {
      const allowed = await waitUntil('impersonation allowed', async () => {
        const got = await kubectl(kubeconfig, ['-n', namespace, 'get', 'secret', 's1', '-o', 'name', ...as]);
        return got.code === 0 ? got.stdout.trim() : undefined;
      });
      expect(allowed).toBe('secret/s1');
    } finally {
      await kubectl('source', ['delete', 'clusterrolebinding', `${namespace}-impersonate`]);
      await kubectl('source', ['delete', 'clusterrole', `${namespace}-impersonate`]);
    }
  });
});

describe('a backend that goes away', () => {
  it('answers 503, never 404, for the shards it owned, while discovery and the source keep answering', async () => {
    // A second aggregator reaches the destination through a TCP relay the test can cut.
    const target = new URL(bridge.destination.server);
    const sockets = new Set<Socket>();
    const relay = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => sockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const port = (relay.address() as { port: number }).port;
    const kubeconfigFile = join(bridge.sidecar.dir, 'destination-via-relay.kubeconfig');
    writeFileSync(kubeconfigFile, readFileSync(kubeconfigPath('destination'), 'utf8').replace(target.origin, `https://127.0.0.1:${port}`));
    await bridge.aggregator.handoff!.changeOwner('configmaps', 'destination', 'e2e');
    const second = await startSecondAggregator(bridge, kubeconfigFile);
    const base = `https://127.0.0.1:${second.port}`;
    const auth = { authorization: `Bearer ${token}` };
    try {
      await waitUntil('the second aggregator to route configmaps to the destination', async () =>
        second.routing.table.shards.configmaps?.owner === 'destination' ? true : undefined,
      );
      expect((await callAggregator(`/api/v1/namespaces/${namespace}/configmaps`, auth, undefined, 'GET', base)).status).toBe(200);
      relay.close();
      for (const s of sockets) s.destroy();
      const owned = await callAggregator(`/api/v1/namespaces/${namespace}/configmaps`, auth, undefined, 'GET', base);
      expect(owned.status).toBe(503);
      expect(JSON.parse(owned.body)).toMatchObject({ kind: 'Status', code: 503, reason: 'ServiceUnavailable' });
      const single = await callAggregator(`/api/v1/namespaces/${namespace}/configmaps/c0`, auth, undefined, 'GET', base);
      expect(single.status).toBe(503);
      expect((await callAggregator('/apis', auth, undefined, 'GET', base)).status).toBe(200);
      expect((await callAggregator(`/api/v1/namespaces/${namespace}/serviceaccounts`, auth, undefined, 'GET', base)).status).toBe(200);
    } finally {
      await second.close();
      relay.close();
      await bridge.aggregator.handoff!.changeOwner('configmaps', 'source', 'e2e');
    }
  });
});
