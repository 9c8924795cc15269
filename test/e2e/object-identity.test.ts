// One identity per object (issue 20 items 4 and 5, issue 21), on the lab's two real clusters with the
// real synchronizer: a ConfigMap read through the bridge shows the same UID, creationTimestamp and
// annotations before a move, after it and after moving back; the UIDs a client presents are mapped to
// the backend's; a PUT of what the client read keeps the bridge's marks; the bridge's own annotations
// can be neither seen nor set; and the bridge's failing answers are kube-apiserver's, byte for byte.
// A lab of its own: the moves fence the source.
import { stopPrivateLab } from '../helpers/private-lab.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MIRROR_OF_UID_ANNOTATION, ORIGINAL_CREATION_TIMESTAMP_ANNOTATION, ORIGINAL_UID_ANNOTATION, SYNCHRONIZER_FIELD_MANAGER } from '../../lib/names.js';
import { type KubeObject } from '../../lib/kube/types.js';
import { waitUntil } from '../../lib/wait-until.js';
import { startLabBridge, type LabBridge } from '../helpers/bridge-lab.js';
import { createNamespace, kubeconfigPath } from '../helpers/lab-clients.js';
import { rawCall, type RawAnswer } from '../helpers/raw-call.js';
import { serviceAccountToken, tokenKubeconfig } from '../helpers/sidecar-lab.js';

let bridge: LabBridge;
let namespace: string;
let viaBridge: string;
const destination = () => kubeconfigPath('destination');
const source = () => kubeconfigPath('source');

type Managed = { manager?: string }[];
const parsed = (answer: RawAnswer) => JSON.parse(answer.text) as KubeObject & { message?: string };
const path = (resource: string, name = '') => `/api/v1/namespaces/${namespace}/${resource}${name ? `/${name}` : ''}`;
const identity = (obj: KubeObject) => ({ uid: obj.metadata.uid, creationTimestamp: obj.metadata.creationTimestamp, annotations: obj.metadata.annotations });
const managers = (obj: KubeObject) => ((obj.metadata.managedFields as Managed | undefined) ?? []).map((m) => m.manager);

async function get(kubeconfig: string, resource: string, name: string): Promise<KubeObject> {
  const answer = await rawCall(kubeconfig, 'GET', path(resource, name));
  expect(answer.status).toBe(200);
  return parsed(answer);
}

/** The same failing request, straight to the owner and through the bridge. */
async function both(method: string, url: string, body?: unknown, contentType?: string): Promise<{ direct: RawAnswer; bridged: RawAnswer }> {
  return { direct: await rawCall(destination(), method, url, body, contentType), bridged: await rawCall(viaBridge, method, url, body, contentType) };
}

function expectSameBytes({ direct, bridged }: { direct: RawAnswer; bridged: RawAnswer }, status: number): void {
  expect(bridged.status).toBe(status);
  expect(direct.status).toBe(status);
  expect(bridged.headers['content-type']).toBe(direct.headers['content-type']);
  expect(bridged.text).toBe(direct.text);
}

/** What the client saw before any move: c's identity and d's UID. */
const before: { c?: ReturnType<typeof identity>; cRV?: string; dUid?: string; eUid?: string } = {};

beforeAll(async () => {
  namespace = await createNamespace('source', 'identity');
  const token = await serviceAccountToken(namespace);
  bridge = await startLabBridge({ namespace });
  viaBridge = tokenKubeconfig(bridge.sidecar.dir, 'identity', bridge.sidecar.server, bridge.sidecar.caBundlePem, token, namespace);
  await waitUntil(
    'the RoleBinding mirrored to the destination',
    async () =>
      (await rawCall(destination(), 'GET', `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings/tester-edit`)).status === 200 || undefined,
  );
}, 180_000);

afterAll(async () => {
  await bridge?.close();
  await stopPrivateLab();
}, 120_000);

describe('one identity per object', () => {
  it('before any move: the source object as it is', async () => {
    const configMap = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, annotations: { team: 'a' } }, data: { k: 'v1' } });
    for (const name of ['c', 'd']) expect((await rawCall(viaBridge, 'POST', path('configmaps'), configMap(name))).status).toBe(201);
    const c = await get(viaBridge, 'configmaps', 'c');
    expect(identity(c)).toEqual(identity(await get(source(), 'configmaps', 'c')));
    expect(c.metadata.annotations).toEqual({ team: 'a' });
    before.c = identity(c);
    before.cRV = c.metadata.resourceVersion;
    before.dUid = (await get(viaBridge, 'configmaps', 'd')).metadata.uid;
  });

  it('refuses writes that set the bridge’s own annotations (issue 21)', async () => {
    const forged = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'forged', annotations: { [MIRROR_OF_UID_ANNOTATION]: 'x' } } };
    const created = await rawCall(viaBridge, 'POST', path('configmaps'), forged);
    expect(created.status).toBe(422);
    expect(parsed(created)).toMatchObject({
      reason: 'Invalid',
      message: `ConfigMap "forged" is invalid: metadata.annotations[${MIRROR_OF_UID_ANNOTATION}]: Forbidden: this annotation belongs to cluster-bridge and cannot be set or changed through the API`,
      details: { name: 'forged', kind: 'ConfigMap', causes: [{ reason: 'FieldValueForbidden', field: `metadata.annotations[${MIRROR_OF_UID_ANNOTATION}]` }] },
    });
    expect((await rawCall(source(), 'GET', path('configmaps', 'forged'))).status).toBe(404);
    const patch = { metadata: { annotations: { [ORIGINAL_UID_ANNOTATION]: 'x' } } };
    expect((await rawCall(viaBridge, 'PATCH', path('configmaps', 'c'), patch, 'application/merge-patch+json')).status).toBe(422);
    const ops = [{ op: 'add', path: `/metadata/annotations/${ORIGINAL_UID_ANNOTATION.replace('/', '~1')}`, value: 'x' }];
    expect((await rawCall(viaBridge, 'PATCH', path('configmaps', 'c'), ops, 'application/json-patch+json')).status).toBe(422);
  });

  it('after the move: the same UID, creationTimestamp and annotations, no synchronizer field manager', async () => {
    await waitUntil('c and d mirrored to the destination', async () => {
      const copies = await Promise.all(['c', 'd'].map((n) => rawCall(destination(), 'GET', path('configmaps', n))));
      return copies.every((a) => a.status === 200 && parsed(a).metadata.annotations?.[ORIGINAL_UID_ANNOTATION]) || undefined;
    });
    await bridge.aggregator.handoff!.changeOwner('configmaps', 'destination', 'e2e');
    const c = await get(viaBridge, 'configmaps', 'c');
    expect(identity(c)).toEqual(before.c);
    expect(managers(c)).not.toContain(SYNCHRONIZER_FIELD_MANAGER);
    const list = parsed(await rawCall(viaBridge, 'GET', path('configmaps'))) as unknown as { items: KubeObject[] };
    expect(identity(list.items.find((i) => i.metadata.name === 'c')!)).toEqual(before.c);
    // The destination's object is another one, written by the synchronizer under its own field manager.
    const copy = await get(destination(), 'configmaps', 'c');
    expect(copy.metadata.uid).not.toBe(before.c!.uid);
    expect(copy.metadata.annotations).toMatchObject({
      [ORIGINAL_UID_ANNOTATION]: before.c!.uid,
      [ORIGINAL_CREATION_TIMESTAMP_ANNOTATION]: before.c!.creationTimestamp,
    });
    expect(managers(copy)).toEqual([SYNCHRONIZER_FIELD_MANAGER]);
  });

  it('a PUT of the object as read keeps the marks; the synchronizer mirrors it back to the source', async () => {
    for (const value of ['v2', 'v3']) {
      const c = await get(viaBridge, 'configmaps', 'c');
      const put = await rawCall(viaBridge, 'PUT', path('configmaps', 'c'), { ...c, data: { k: value } });
      expect(put.status).toBe(200);
      expect(identity(parsed(put))).toEqual(before.c);
      const stored = await get(destination(), 'configmaps', 'c');
      expect(stored.metadata.annotations).toMatchObject({ team: 'a', [ORIGINAL_UID_ANNOTATION]: before.c!.uid, [MIRROR_OF_UID_ANNOTATION]: before.c!.uid });
      // The second PUT carries the managedFields the client was shown (without the synchronizer's entry): the owner keeps those.
      if (value === 'v3') expect(managers(stored)).toEqual(managers(c));
      await waitUntil(
        `c=${value} mirrored to the source`,
        async () => ((await get(source(), 'configmaps', 'c')) as { data?: { k?: string } }).data?.k === value || undefined,
      );
    }
    expect(identity(await get(viaBridge, 'configmaps', 'c'))).toEqual(before.c);
  });

  it('an ownerReference naming the UID the client was shown is mapped to the owner on the destination', async () => {
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'c', uid: before.c!.uid };
    const child = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'child', ownerReferences: [ref] } };
    expect((await rawCall(viaBridge, 'POST', path('configmaps'), child)).status).toBe(201);
    const stored = await get(destination(), 'configmaps', 'child');
    expect((stored.metadata.ownerReferences as { uid: string }[])[0]!.uid).toBe((await get(destination(), 'configmaps', 'c')).metadata.uid);
  });

  it('a delete with the UID read before the move is mapped; a wrong UID gets the 409 kube-apiserver gives', async () => {
    const copy = await get(destination(), 'configmaps', 'd');
    expect(copy.metadata.uid).not.toBe(before.dUid);
    const wrong = { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: '00000000-0000-0000-0000-000000000000' } };
    const answers = await both('DELETE', path('configmaps', 'd'), wrong);
    expect(answers.bridged.status).toBe(409);
    // kube-apiserver names the object's UID: through the bridge, the one the client was shown.
    expect(answers.bridged.text).toBe(answers.direct.text.replaceAll(copy.metadata.uid!, before.dUid!));
    const deleted = await rawCall(viaBridge, 'DELETE', path('configmaps', 'd'), { ...wrong, preconditions: { uid: before.dUid } });
    expect(deleted.status).toBe(200);
    expect((await rawCall(destination(), 'GET', path('configmaps', 'd'))).status).toBe(404);
  });

  it('an object created while the destination owns keeps its UID after the move back, as does one updated meanwhile', async () => {
    const created = await rawCall(viaBridge, 'POST', path('configmaps'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'e' }, data: { k: 'v' } });
    expect(created.status).toBe(201);
    before.eUid = parsed(created).metadata.uid;
    await waitUntil('e mirrored to the source', async () => (await rawCall(source(), 'GET', path('configmaps', 'e'))).status === 200 || undefined);
    await bridge.aggregator.handoff!.changeOwner('configmaps', 'source', 'e2e');
    expect(identity(await get(viaBridge, 'configmaps', 'c'))).toEqual(before.c);
    // The source's original was written by the destination's mirror: its mirror-of-uid names the destination's object.
    const original = await get(source(), 'configmaps', 'c');
    expect(original.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION]).toBe((await get(destination(), 'configmaps', 'c')).metadata.uid);
    const e = await get(viaBridge, 'configmaps', 'e');
    expect(e.metadata.uid).toBe(before.eUid);
    expect(e.metadata.annotations).toBeUndefined();
    expect((await get(source(), 'configmaps', 'e')).metadata.uid).not.toBe(before.eUid);
  });
});

describe("the bridge's failing answers are kube-apiserver's", () => {
  it('404, 409 AlreadyExists, the 409 of a stale resourceVersion and a source-first Service create that conflicts', async () => {
    await bridge.aggregator.handoff!.changeOwner('configmaps', 'destination', 'e2e');
    await bridge.aggregator.handoff!.changeOwner('services', 'destination', 'e2e');
    expectSameBytes(await both('GET', path('configmaps', 'missing')), 404);
    const exists = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } };
    expectSameBytes(await both('POST', path('configmaps'), exists), 409);
    // The bridge's own 409: the resourceVersion the client read before the first move is of an older epoch.
    const current = await get(destination(), 'configmaps', 'c');
    const stale = await both('PUT', path('configmaps', 'c'), { ...current, metadata: { ...current.metadata, resourceVersion: '1' } });
    const bridged = await rawCall(viaBridge, 'PUT', path('configmaps', 'c'), { ...exists, metadata: { name: 'c', resourceVersion: before.cRV } });
    expectSameBytes({ direct: stale.direct, bridged }, 409);
    const service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } };
    expect((await rawCall(viaBridge, 'POST', path('services'), service)).status).toBe(201);
    expectSameBytes(await both('POST', path('services'), service), 409);
  });

  it('410: a watch from an older epoch gets what kube-apiserver gives a watch from a compacted RV, 200 and one ERROR event', async () => {
    // kube-apiserver's own answer needs a compacted revision, which a fresh lab did not reach within 7 minutes:
    // the shape is its cacher's (newErrWatcher, "too old resource version: %d (%d)"), docs/adr/0014.
    const bridged = await rawCall(viaBridge, 'GET', `${path('configmaps')}?watch=true&resourceVersion=${before.cRV}&timeoutSeconds=1`);
    expect(bridged.status).toBe(200);
    expect(bridged.headers['content-type']).toBe('application/json');
    const status = `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: ${before.cRV} \\(\\d+\\)","reason":"Expired","code":410}`;
    expect(bridged.text).toMatch(new RegExp(`^\\{"type":"ERROR","object":${status}\\}\\n$`));
  });
});
