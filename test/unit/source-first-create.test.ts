// The three steps of a source-first Service create (aggregator/request/source-first-create.ts) against two
// HTTPS backends that record what they receive: the order of the calls, what each side is sent, and
// that nothing is left in the source when the destination refuses or cannot be reached. The lab test
// in test/e2e/aggregator-bridge.test.ts runs the same through real API servers.
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createSourceFirst } from '../../aggregator/request/source-first-create.js';
import { updateSourceFirst } from '../../aggregator/request/source-first-update.js';
import type { KubeObject } from '../../lib/kube/types.js';
import { silentLog, startTestBackend, testPki, type BackendHandler, type TestBackend, type TestPki } from '../helpers/sidecar-fixtures.js';
import { answerThroughFront, APPLY_YAML, callerHeaders, calls, closeOpened, connect as connectTo, json, status } from '../helpers/source-first-fixtures.js';

const SERVICES = '/api/v1/namespaces/apps/services?fieldManager=kubectl-create';
const APPLY_PATH = '/api/v1/namespaces/apps/services/web?fieldManager=kubectl&force=true';
const requested: KubeObject = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'apps' },
  spec: { type: 'NodePort', ports: [{ port: 80 }] },
};

/** The source allocates from 10.96.0.0/16; the destination's own allocations would be 10.100.x. */
const sourceAllocates: BackendHandler = (req, res, body) => {
  if (req.method === 'DELETE') return json(res, 200, status(200, '', 'deleted'));
  const obj = JSON.parse(body.toString()) as KubeObject;
  json(res, 201, {
    ...obj,
    metadata: { ...obj.metadata, uid: 'source-uid', resourceVersion: '7' },
    spec: { ...(obj.spec as object), clusterIP: '10.96.3.4', clusterIPs: ['10.96.3.4'], ports: [{ port: 80, nodePort: 31234 }] },
  });
};

type DestinationStep = 'accept' | 'refuse' | 'hang-up';
const destination =
  (dryRun: DestinationStep, create: DestinationStep): BackendHandler =>
  (req, res, body) => {
    const step = req.url!.includes('dryRun=All') ? dryRun : create;
    if (step === 'hang-up') return void req.socket.destroy();
    if (step === 'refuse') return json(res, 422, status(422, 'Invalid', 'denied by the destination'));
    // A dry run's body may be protobuf, which these fakes do not decode.
    if (req.url!.includes('dryRun=All')) return json(res, 201, { kind: 'Service', metadata: { name: 'web' } });
    const obj = JSON.parse(body.toString()) as KubeObject;
    const spec = obj.spec as { clusterIP?: string };
    json(res, 201, {
      ...obj,
      metadata: { ...obj.metadata, uid: 'destination-uid', resourceVersion: '90' },
      spec: { ...spec, clusterIP: spec.clusterIP ?? '10.100.0.1' },
    });
  };

let pki: TestPki;
const connect = (side: 'source' | 'destination', port: number) => connectTo(pki, side, port);

/** One create through answerThroughFront. */
async function runCreate(
  source: TestBackend | number,
  dest: TestBackend,
  sent: { body: Buffer; contentType: string } = { body: Buffer.from(JSON.stringify(requested)), contentType: 'application/json' },
  write: 'create' | 'apply' = 'create',
) {
  const call = {
    shard: 'services',
    write,
    ...sent,
    requested: sent.contentType === 'application/json' || write === 'apply' ? requested : undefined,
    path: write === 'create' ? SERVICES : APPLY_PATH,
    headersForBody: callerHeaders(sent.contentType),
    source: await connect('source', typeof source === 'number' ? source : source.port),
    destination: await connect('destination', dest.port),
    codec: undefined,
    log: silentLog,
  };
  return answerThroughFront((res) => createSourceFirst(call, res));
}

/** The destination of an apply: its dry run answers 201 (the apply would create) or 200 (it would update). */
const applyDestination =
  (dryRunStatus: 200 | 201): BackendHandler =>
  (req, res, body) => {
    if (req.url!.includes('dryRun=All')) return json(res, dryRunStatus, { kind: 'Service', metadata: { name: 'web' } });
    const obj = JSON.parse(body.toString()) as KubeObject;
    json(res, 201, { ...obj, metadata: { ...obj.metadata, uid: 'destination-uid', resourceVersion: '90' } });
  };

beforeAll(async () => {
  pki = await testPki();
});
afterEach(closeOpened);

describe('a source-first create', () => {
  it("checks on the destination, creates on the source, then creates on the destination with the source's values", async () => {
    const [source, dest] = [await startTestBackend(pki, sourceAllocates), await startTestBackend(pki, destination('accept', 'accept'))];
    const got = await runCreate(source, dest);
    expect(got.code).toBe(201);
    expect(got.outcome).toBe('created');
    expect(got.body).toMatchObject({ metadata: { uid: 'destination-uid' }, spec: { clusterIP: '10.96.3.4', ports: [{ port: 80, nodePort: 31234 }] } });
    expect(calls(dest)).toEqual(['POST dry-run', 'POST /api/v1/namespaces/apps/services']);
    expect(calls(source)).toEqual(['POST /api/v1/namespaces/apps/services']);
    // The source's object is marked as a mirror copy for the synchronizer to adopt; the destination's is not.
    expect(JSON.parse(source.seen[0]!.body.toString()).metadata.annotations).toEqual({ 'cluster-bridge.io/mirror-of-uid': '' });
    expect(JSON.parse(dest.seen[1]!.body.toString()).metadata.annotations).toBeUndefined();
    // The bridge's own token goes to the source; the destination gets the caller's impersonation.
    expect(source.seen[0]!.rawHeaders).toContain('Bearer bridge-token');
    expect(dest.seen[1]!.rawHeaders).toContain('system:serviceaccount:apps:web');
    await Promise.all([source.stop(), dest.stop()]);
  });

  it("passes a protobuf body to the source as it came and gives the destination the source's object as JSON", async () => {
    const [source, dest] = [
      await startTestBackend(pki, (req, res) => sourceAllocates(req, res, Buffer.from(JSON.stringify(requested)))),
      await startTestBackend(pki, destination('accept', 'accept')),
    ];
    const protobuf = Buffer.from([0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0f]);
    const got = await runCreate(source, dest, { body: protobuf, contentType: 'application/vnd.kubernetes.protobuf' });
    expect([got.code, got.outcome]).toEqual([201, 'created']);
    expect(source.seen[0]!.body).toEqual(protobuf);
    expect(source.seen[0]!.rawHeaders).toContain('application/vnd.kubernetes.protobuf');
    expect(dest.seen[0]!.body).toEqual(protobuf);
    const copy = JSON.parse(dest.seen[1]!.body.toString()) as KubeObject;
    expect(copy.metadata).toEqual({ name: 'web', namespace: 'apps' });
    expect(copy.spec).toMatchObject({ clusterIP: '10.96.3.4', ports: [{ port: 80, nodePort: 31234 }] });
    expect(dest.seen[1]!.rawHeaders).toContain('application/json');
    await Promise.all([source.stop(), dest.stop()]);
  });

  it('never touches the source when the destination refuses the dry run', async () => {
    const [source, dest] = [await startTestBackend(pki, sourceAllocates), await startTestBackend(pki, destination('refuse', 'accept'))];
    const got = await runCreate(source, dest);
    expect([got.code, got.body.message, got.outcome]).toEqual([422, 'denied by the destination', 'refused-by-destination-dry-run']);
    expect(calls(source)).toEqual([]);
    await Promise.all([source.stop(), dest.stop()]);
  });

  it("gives the client the source's refusal and creates nothing in the destination", async () => {
    const source = await startTestBackend(pki, (_req, res) => json(res, 409, status(409, 'AlreadyExists', 'services "web" already exists')));
    const dest = await startTestBackend(pki, destination('accept', 'accept'));
    const got = await runCreate(source, dest);
    expect([got.code, got.body.reason, got.outcome]).toEqual([409, 'AlreadyExists', 'refused-by-source']);
    expect(calls(dest)).toEqual(['POST dry-run']);
    await Promise.all([source.stop(), dest.stop()]);
  });

  it.each([
    ['refuses', 'refuse' as const, 422, 'refused-by-destination'],
    ['hangs up on', 'hang-up' as const, 503, 'backend-unreachable'],
  ])("deletes the source's object again, by UID, when the destination %s the create", async (_what, step, code, outcome) => {
    const [source, dest] = [await startTestBackend(pki, sourceAllocates), await startTestBackend(pki, destination('accept', step))];
    const got = await runCreate(source, dest);
    expect([got.code, got.outcome]).toEqual([code, outcome]);
    expect(calls(source)).toEqual(['POST /api/v1/namespaces/apps/services', 'DELETE /api/v1/namespaces/apps/services/web']);
    expect(JSON.parse(source.seen[1]!.body.toString())).toMatchObject({ kind: 'DeleteOptions', preconditions: { uid: 'source-uid' } });
    await Promise.all([source.stop(), dest.stop()]);
  });

  it('reports a source object it could not delete as left behind', async () => {
    const source = await startTestBackend(pki, (req, res, body) =>
      req.method === 'DELETE' ? json(res, 500, status(500, 'InternalError', 'etcd unavailable')) : sourceAllocates(req, res, body),
    );
    const dest = await startTestBackend(pki, destination('accept', 'refuse'));
    const got = await runCreate(source, dest);
    expect([got.code, got.outcome]).toEqual([422, 'source-copy-left']);
    await Promise.all([source.stop(), dest.stop()]);
  });

  it('answers 503 naming the source, and creates nothing, when the source cannot be reached', async () => {
    const gone = await startTestBackend(pki, sourceAllocates);
    await gone.stop();
    const dest = await startTestBackend(pki, destination('accept', 'accept'));
    const got = await runCreate(gone.port, dest);
    expect([got.code, got.outcome]).toEqual([503, 'backend-unreachable']);
    expect(String(got.body.message)).toContain('the source API server is unavailable');
    expect(calls(dest)).toEqual(['POST dry-run']);
    await dest.stop();
  });

  it("makes an apply that would create the same way: a create on the source, then the apply with the source's values", async () => {
    const [source, dest] = [await startTestBackend(pki, sourceAllocates), await startTestBackend(pki, applyDestination(201))];
    const yaml = Buffer.from('apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: apps\nspec:\n  type: NodePort\n  ports:\n  - port: 80\n');
    const got = await runCreate(source, dest, { body: yaml, contentType: APPLY_YAML }, 'apply');
    expect([got.code, got.outcome]).toEqual([201, 'created']);
    expect(calls(dest)).toEqual(['PATCH dry-run', 'PATCH /api/v1/namespaces/apps/services/web']);
    // The source gets a plain create in the collection: an apply's fieldManager and force mean nothing to a POST.
    expect(source.seen.map((s) => `${s.method} ${s.url}`)).toEqual(['POST /api/v1/namespaces/apps/services']);
    expect(JSON.parse(source.seen[0]!.body.toString()).metadata.annotations).toEqual({ 'cluster-bridge.io/mirror-of-uid': '' });
    // The destination's apply keeps the caller's query and content type, with the source's values added.
    expect(dest.seen[1]!.url).toBe(APPLY_PATH);
    expect(dest.seen[1]!.rawHeaders).toContain(APPLY_YAML);
    expect(JSON.parse(dest.seen[1]!.body.toString()).spec).toMatchObject({ clusterIP: '10.96.3.4', ports: [{ port: 80, nodePort: 31234 }] });
    await Promise.all([source.stop(), dest.stop()]);
  });

  it('does not answer an apply that would update, and passes its dry run on (source-first-apply.ts), touching neither side', async () => {
    const [source, dest] = [await startTestBackend(pki, sourceAllocates), await startTestBackend(pki, applyDestination(200))];
    const got = await runCreate(source, dest, { body: Buffer.from(JSON.stringify(requested)), contentType: APPLY_YAML }, 'apply');
    expect(got.outcome).toBe('not-a-create');
    expect(got.result).toMatchObject({ dryRun: { status: 200 } });
    expect(calls(source)).toEqual([]);
    expect(calls(dest)).toEqual(['PATCH dry-run']);
    await Promise.all([source.stop(), dest.stop()]);
  });
});

const SERVICE_PATH = '/api/v1/namespaces/apps/services/web';
const current = {
  kind: 'Service',
  metadata: { name: 'web', uid: 'destination-uid', resourceVersion: '90' },
  spec: { type: 'ClusterIP', clusterIP: '10.96.3.4', ports: [{ port: 80 }] },
};

/**
 * The destination of an update: its current Service, a dry run whose result is `wouldBe` (or a refusal), and the real
 * PUT answered with what it was sent.
 */
const updatingDestination =
  (wouldBe: object | 'refuse'): BackendHandler =>
  (req, res, body) => {
    if (req.method === 'GET') return json(res, 200, current);
    if (req.url!.includes('dryRun=All'))
      return wouldBe === 'refuse' ? json(res, 400, status(400, 'BadRequest', 'webhook does not support dry run')) : json(res, 200, wouldBe);
    json(res, 200, { ...(JSON.parse(body.toString()) as object), status: {} });
  };
const toNodePort = { ...current, spec: { ...current.spec, type: 'NodePort', ports: [{ port: 80, nodePort: 31999 }] } };
/** The source's copy after the client's update: its own nodePort. */
const sourceUpdates: BackendHandler = (_req, res) =>
  json(res, 200, {
    ...toNodePort,
    metadata: { name: 'web', uid: 'source-uid', resourceVersion: '8' },
    spec: { ...toNodePort.spec, ports: [{ port: 80, nodePort: 30555 }] },
  });

async function runUpdate(source: TestBackend, dest: TestBackend, method: 'PUT' | 'PATCH', body: object, contentType: string) {
  const call = {
    shard: 'services',
    method,
    path: `${SERVICE_PATH}?fieldManager=kubectl-patch`,
    body: Buffer.from(JSON.stringify(body)),
    contentType,
    headersForBody: callerHeaders(contentType),
    source: await connect('source', source.port),
    destination: await connect('destination', dest.port),
    codec: undefined,
    log: silentLog,
  };
  return answerThroughFront((res) => updateSourceFirst(call, res));
}

const MERGE = 'application/merge-patch+json';

describe('a source-first update', () => {
  it("makes an update that would allocate on the source first, then gives the destination the source's nodePort", async () => {
    const [source, dest] = [await startTestBackend(pki, sourceUpdates), await startTestBackend(pki, updatingDestination(toNodePort))];
    const patch = { spec: { type: 'NodePort' } };
    const got = await runUpdate(source, dest, 'PATCH', patch, MERGE);
    expect([got.code, got.outcome]).toEqual([200, 'updated']);
    expect(calls(dest).sort()).toEqual(['GET /api/v1/namespaces/apps/services/web', 'PATCH dry-run', 'PUT /api/v1/namespaces/apps/services/web']);
    // The source gets the client's own patch, as the bridge; the destination the dry run's object with the source's port.
    expect(calls(source)).toEqual(['PATCH /api/v1/namespaces/apps/services/web']);
    expect(JSON.parse(source.seen[0]!.body.toString())).toEqual(patch);
    expect(source.seen[0]!.rawHeaders).toEqual(expect.arrayContaining([MERGE, 'Bearer bridge-token']));
    const put = dest.seen.find((s) => s.method === 'PUT')!;
    expect(JSON.parse(put.body.toString())).toMatchObject({
      metadata: { resourceVersion: '90' },
      spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30555 }] },
    });
    expect(put.rawHeaders).toContain('system:serviceaccount:apps:web');
    expect(got.body).toMatchObject({ spec: { ports: [{ nodePort: 30555 }] } });
    await Promise.all([source.stop(), dest.stop()]);
  });

  it("sends a PUT's object to the source without the destination's uid and resourceVersion", async () => {
    const [source, dest] = [await startTestBackend(pki, sourceUpdates), await startTestBackend(pki, updatingDestination(toNodePort))];
    const got = await runUpdate(source, dest, 'PUT', { ...current, spec: { ...current.spec, type: 'NodePort' } }, 'application/json');
    expect(got.outcome).toBe('updated');
    expect(JSON.parse(source.seen[0]!.body.toString()).metadata).toEqual({ name: 'web' });
    await Promise.all([source.stop(), dest.stop()]);
  });

  it.each([
    ['allocates nothing', { ...current, metadata: { ...current.metadata, labels: { tier: 'web' } } }],
    ['cannot be dry-run', 'refuse' as const],
  ])('leaves an update that %s to the ordinary path, never touching the source', async (_what, wouldBe) => {
    const [source, dest] = [await startTestBackend(pki, sourceUpdates), await startTestBackend(pki, updatingDestination(wouldBe))];
    const got = await runUpdate(source, dest, 'PATCH', { metadata: { labels: { tier: 'web' } } }, MERGE);
    expect(got.outcome).toBe('not-allocating');
    expect(calls(source)).toEqual([]);
    expect(calls(dest)).not.toContain('PUT /api/v1/namespaces/apps/services/web');
    await Promise.all([source.stop(), dest.stop()]);
  });

  it("gives the client the source's refusal and leaves the destination as it was", async () => {
    const source = await startTestBackend(pki, (_req, res) => json(res, 422, status(422, 'Invalid', 'provided port is already allocated')));
    const dest = await startTestBackend(pki, updatingDestination(toNodePort));
    const got = await runUpdate(source, dest, 'PATCH', { spec: { type: 'NodePort' } }, MERGE);
    expect([got.code, got.body.message, got.outcome]).toEqual([422, 'provided port is already allocated', 'refused-by-source']);
    expect(calls(dest)).not.toContain('PUT /api/v1/namespaces/apps/services/web');
    await Promise.all([source.stop(), dest.stop()]);
  });
});
