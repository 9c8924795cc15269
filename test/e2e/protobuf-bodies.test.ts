// Issue 20, item 1: client-go's generated clientset with its default content types (built-in types go
// as protobuf: gentype.PrefersProtobuf) through sidecar -> aggregator while the configmaps and leases shards move source ->
// destination -> source. Updates and a Lease renewal succeed with fresh RVs, an older epoch's RV is a
// 409 (update and delete precondition), and CBOR gets the same 415 the API server gives. Before the
// fix, a protobuf body went on with the presented RV: every update after the move failed with 409.
// The identity step (issue 20 item 4): on the destination, a protobuf update keeps the bridge's marks
// of a mirrored ConfigMap, a delete's UID precondition of the original is mapped, and a protobuf write
// setting a bridge annotation is a 422. Before the fix, the update erased the marks (the bridge then
// showed the destination's own UID) and the delete was a 409.
// A lab of its own: the moves fence the source.
import { stopPrivateLab } from '../helpers/private-lab.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '../../lib/wait-until.js';
import { startLabBridge, type LabBridge } from '../helpers/bridge-lab.js';
import { createNamespace, kubectl, kubectlOk } from '../helpers/lab-clients.js';
import { clientGoStepsRunner, type ClientGoStep, type ClientGoStepResult } from '../helpers/protobuf-bodies.js';
import { serviceAccountToken, tokenKubeconfig } from '../helpers/sidecar-lab.js';

const SHARDS = ['configmaps', 'leases.coordination.k8s.io'] as const;
const PROTOBUF = 'application/vnd.kubernetes.protobuf';

let bridge: LabBridge;
let namespace: string;
let token: string;
let kubeconfig: string;
let runSteps: (kubeconfig: string, steps: ClientGoStep[]) => Promise<ClientGoStepResult[]>;

const steps = (list: Omit<ClientGoStep, 'namespace'>[]) =>
  runSteps(
    kubeconfig,
    list.map((s) => ({ ...s, namespace })),
  );

/** A PUT with a CBOR body through the sidecar, as a client-go with ClientsPreferCBOR would send it. */
function putCbor(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const body = Buffer.from([0xd9, 0xd9, 0xf7, 0xa0]); // the self-described CBOR tag and an empty map
    const req = request(
      new URL(path, bridge.sidecar.server),
      {
        method: 'PUT',
        ca: bridge.sidecar.caBundlePem,
        agent: false,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/cbor', accept: 'application/json', 'content-length': body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function moveAll(to: 'source' | 'destination'): Promise<void> {
  for (const shard of SHARDS) await bridge.aggregator.handoff!.changeOwner(shard, to, 'e2e');
}

const BRIDGE_MARKS = [
  'cluster-bridge.io/mirror-of-uid',
  'cluster-bridge.io/mirror-of-resource-version',
  'cluster-bridge.io/original-uid',
  'cluster-bridge.io/original-creation-timestamp',
];

/** The ConfigMap as the destination stores it, read there directly (not through the bridge). */
async function onDestinationDirectly(name: string): Promise<{ uid: string; marks: Record<string, string>; value: string }> {
  const cm = JSON.parse(await kubectlOk('destination', ['-n', namespace, 'get', 'configmap', name, '-o', 'json'])) as {
    metadata: { uid: string; annotations?: Record<string, string> };
    data?: Record<string, string>;
  };
  const marks = Object.fromEntries(Object.entries(cm.metadata.annotations ?? {}).filter(([key]) => key.startsWith('cluster-bridge.io/')));
  return { uid: cm.metadata.uid, marks, value: cm.data?.value ?? '' };
}

const ok = (result: ClientGoStepResult) => ({ code: result.code, sentAs: result.sentAs });
const conflict = (result: ClientGoStepResult) => ({ code: result.code, reason: result.reason });

beforeAll(async () => {
  runSteps = clientGoStepsRunner(mkdtempSync(join(tmpdir(), 'protobuf-bodies-')));
  namespace = await createNamespace('source', 'protobuf');
  token = await serviceAccountToken(namespace);
  await kubectlOk('source', ['-n', namespace, 'create', 'role', 'leases', '--verb=*', '--resource=leases.coordination.k8s.io']);
  await kubectlOk('source', ['-n', namespace, 'create', 'rolebinding', 'leases', '--role=leases', `--serviceaccount=${namespace}:tester`]);
  bridge = await startLabBridge({ namespace });
  kubeconfig = tokenKubeconfig(bridge.sidecar.dir, 'protobuf', bridge.sidecar.server, bridge.sidecar.caBundlePem, token, namespace);
  // The destination serves the workload by impersonation: its RBAC must be mirrored first.
  await waitUntil('the RBAC mirrored to the destination', async () =>
    (await kubectl('destination', ['-n', namespace, 'get', 'rolebinding/leases', 'rolebinding/tester-edit', 'role/leases', '-o', 'name'])).code === 0
      ? true
      : undefined,
  );
}, 600_000);

afterAll(async () => {
  await bridge?.close();
  await stopPrivateLab();
}, 120_000);

describe('client-go protobuf bodies through a shard that moved', () => {
  it('updates, renews a Lease and deletes with fresh RVs; an older epoch is a 409; CBOR a 415 as the API server words it', async () => {
    const configMapPath = `/api/v1/namespaces/${namespace}/configmaps/settings`;
    const cborBeforeAnyMove = await putCbor(configMapPath);
    expect(cborBeforeAnyMove.status).toBe(415); // the source API server's own answer (CBOR is off in v1.36)

    const created = await steps([
      { op: 'create', kind: 'configmap', name: 'settings', value: 'v0' },
      { op: 'create', kind: 'lease', name: 'leader', value: 'pod-a' },
    ]);
    expect(created.map(ok)).toEqual([
      { code: undefined, sentAs: PROTOBUF },
      { code: undefined, sentAs: PROTOBUF },
    ]);
    const epoch0 = created.map((r) => r.rv!);

    await moveAll('destination');
    const onDestination = await steps([
      { op: 'update', kind: 'configmap', name: 'settings', value: 'v1' },
      { op: 'update', kind: 'lease', name: 'leader', value: 'pod-a' },
      { op: 'update', kind: 'configmap', name: 'settings', value: 'stale', rv: epoch0[0] },
      { op: 'update', kind: 'lease', name: 'leader', value: 'pod-b', rv: epoch0[1] },
    ]);
    expect(onDestination.slice(0, 2).map(ok)).toEqual([
      { code: undefined, sentAs: PROTOBUF },
      { code: undefined, sentAs: PROTOBUF },
    ]);
    expect(onDestination.slice(2).map(conflict)).toEqual([
      { code: 409, reason: 'Conflict' },
      { code: 409, reason: 'Conflict' },
    ]);
    const epoch1 = onDestination.slice(0, 2).map((r) => r.rv!);

    await moveAll('source');
    // The state issue 20 describes: every shard back on the source, with an RV offset.
    const back = await steps([
      { op: 'update', kind: 'configmap', name: 'settings', value: 'v2' },
      { op: 'update', kind: 'lease', name: 'leader', value: 'pod-a' },
      { op: 'update', kind: 'lease', name: 'leader', value: 'pod-a' },
      { op: 'update', kind: 'configmap', name: 'settings', value: 'stale', rv: epoch1[0] },
      { op: 'update', kind: 'lease', name: 'leader', value: 'pod-b', rv: epoch1[1] },
      { op: 'delete', kind: 'configmap', name: 'settings', rv: epoch1[0] },
      { op: 'get', kind: 'configmap', name: 'settings' },
    ]);
    expect(back.slice(0, 3).map(ok)).toEqual([
      { code: undefined, sentAs: PROTOBUF },
      { code: undefined, sentAs: PROTOBUF },
      { code: undefined, sentAs: PROTOBUF },
    ]);
    expect(back.slice(3, 6).map(conflict)).toEqual([
      { code: 409, reason: 'Conflict' },
      { code: 409, reason: 'Conflict' },
      { code: 409, reason: 'Conflict' },
    ]);
    expect(back[5]!.sentAs).toBe(PROTOBUF); // the DeleteOptions body
    // RVs only grow across the moves, and the stale delete left the object.
    expect(BigInt(back[0]!.rv!)).toBeGreaterThan(BigInt(epoch1[0]!));
    expect(BigInt(epoch1[0]!)).toBeGreaterThan(BigInt(epoch0[0]!));
    expect(BigInt(back[2]!.rv!)).toBeGreaterThan(BigInt(back[1]!.rv!));
    expect(back[6]!.rv).toBe(back[0]!.rv);
    expect((await kubectlOk('source', ['-n', namespace, 'get', 'configmap', 'settings', '-o', 'jsonpath={.data.value}'])).trim()).toBe('v2');
    expect((await kubectlOk('source', ['-n', namespace, 'get', 'lease', 'leader', '-o', 'jsonpath={.spec.holderIdentity}'])).trim()).toBe('pod-a');

    const deleted = await steps([
      { op: 'delete', kind: 'configmap', name: 'settings', rv: back[6]!.rv },
      { op: 'get', kind: 'configmap', name: 'settings' },
    ]);
    expect(deleted.map((r) => r.code)).toEqual([undefined, 404]);

    // The bridge refuses CBOR itself now (it cannot rewrite it): the same Status the API server sent.
    const cborAfterMoves = await putCbor(configMapPath);
    expect(cborAfterMoves).toEqual(cborBeforeAnyMove);
  }, 600_000);

  it('on the destination, a protobuf update keeps the marks, a delete presents the original UID, a bridge annotation is a 422', async () => {
    // configmaps is on the source here (the test above moved it back; alone, it never left).
    const [created] = await steps([{ op: 'create', kind: 'configmap', name: 'identity', value: 'v0' }]);
    expect(ok(created!)).toEqual({ code: undefined, sentAs: PROTOBUF });
    const originalUid = created!.uid!;
    expect(originalUid).toMatch(/^[0-9a-f-]{36}$/);

    await bridge.aggregator.handoff!.changeOwner('configmaps', 'destination', 'e2e');
    const mirrored = await onDestinationDirectly('identity');
    expect(mirrored.uid).not.toBe(originalUid);
    expect(Object.keys(mirrored.marks).sort()).toEqual([...BRIDGE_MARKS].sort());
    expect(mirrored.marks['cluster-bridge.io/original-uid']).toBe(originalUid);

    const written = await steps([
      { op: 'update', kind: 'configmap', name: 'identity', value: 'v1', annotations: { note: 'kept' } },
      { op: 'get', kind: 'configmap', name: 'identity' },
      { op: 'update', kind: 'configmap', name: 'identity', value: 'forged', annotations: { 'cluster-bridge.io/original-uid': 'forged' } },
    ]);
    expect(ok(written[0]!)).toEqual({ code: undefined, sentAs: PROTOBUF });
    // The update went to the destination with the marks it had before, the client's change applied.
    const updated = await onDestinationDirectly('identity');
    expect(updated).toEqual({ uid: mirrored.uid, marks: mirrored.marks, value: 'v1' });
    // Through the bridge: the same UID as before the move, from the update's answer and a read.
    expect([written[0]!.uid, written[1]!.uid]).toEqual([originalUid, originalUid]);
    expect(conflict(written[2]!)).toEqual({ code: 422, reason: 'Invalid' });
    expect(written[2]!.message).toContain('cluster-bridge.io/original-uid');
    expect((await onDestinationDirectly('identity')).value).toBe('v1');

    // The destination's object has another UID: the precondition holds only because the bridge maps it.
    const deleted = await steps([
      { op: 'delete', kind: 'configmap', name: 'identity', uid: originalUid },
      { op: 'get', kind: 'configmap', name: 'identity' },
    ]);
    expect(deleted.map((r) => ({ code: r.code, sentAs: r.sentAs }))).toEqual([
      { code: undefined, sentAs: PROTOBUF },
      { code: 404, sentAs: undefined },
    ]);
    expect((await kubectl('destination', ['-n', namespace, 'get', 'configmap', 'identity'])).code).not.toBe(0);
  }, 600_000);
});
