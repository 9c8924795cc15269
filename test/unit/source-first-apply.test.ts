// A server-side apply of a Service while the destination owns services (aggregator/request/source-first-apply.ts)
// against two HTTPS backends that record what they receive: one dry run on the destination decides
// between a create and an update; an update that allocates (ClusterIP -> NodePort) is applied on the
// source first, forced and as the bridge, then on the destination as the caller with the source's
// values. The lab test in test/e2e/aggregator-bridge.test.ts runs the same through real API servers.
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { applySourceFirst } from '../../aggregator/request/source-first-apply.js';
import type { KubeObject } from '../../lib/kube/types.js';
import { headerValue } from '../../lib/proxy/headers.js';
import { silentLog, startTestBackend, testPki, type BackendHandler, type TestBackend, type TestPki } from '../helpers/sidecar-fixtures.js';
import { answerThroughFront, APPLY_YAML, callerHeaders, calls, closeOpened, connect, json, status } from '../helpers/source-first-fixtures.js';

const SERVICE_PATH = '/api/v1/namespaces/apps/services/web';
/** kubectl apply --server-side without --force-conflicts. */
const CLIENT_QUERY = '?fieldManager=kubectl&force=false';
const applied = (type: string) => `apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: apps\nspec:\n  type: ${type}\n  ports:\n  - port: 80\n`;
const requested = (type: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'apps' },
  spec: { type, ports: [{ port: 80 }] },
});

/** Both clusters hold the Service as ClusterIP with the source's ClusterIP. */
const current = {
  kind: 'Service',
  metadata: { name: 'web', namespace: 'apps', uid: 'destination-uid', resourceVersion: '90' },
  spec: { type: 'ClusterIP', clusterIP: '10.96.3.4', clusterIPs: ['10.96.3.4'], ports: [{ port: 80, protocol: 'TCP' }] },
};
/** What the destination's dry run makes of an apply to NodePort: a nodePort of its own choosing. */
const toNodePort = { ...current, spec: { ...current.spec, type: 'NodePort', ports: [{ port: 80, protocol: 'TCP', nodePort: 31999 }] } };
const relabelled = { ...current, metadata: { ...current.metadata, labels: { tier: 'web' } } };

/** The destination: its dry run answers `dryRun` (200: the apply would update, 201: create), a GET the current object, the apply its body. */
const destination =
  (dryRunStatus: 200 | 201, wouldBe: object): BackendHandler =>
  (req, res, body) => {
    if (req.method === 'GET') return dryRunStatus === 201 ? json(res, 404, status(404, 'NotFound', 'services "web" not found')) : json(res, 200, current);
    if (req.url!.includes('dryRun=All')) return json(res, dryRunStatus, wouldBe);
    const obj = JSON.parse(body.toString()) as KubeObject;
    json(res, dryRunStatus, { ...obj, metadata: { ...obj.metadata, uid: 'destination-uid', resourceVersion: '91' } });
  };

/** The source applies (its own nodePort) or creates (a POST of an apply that creates). */
const sourceAllocates: BackendHandler = (req, res) =>
  json(res, req.method === 'POST' ? 201 : 200, {
    ...toNodePort,
    metadata: { name: 'web', namespace: 'apps', uid: 'source-uid', resourceVersion: '8' },
    spec: { ...toNodePort.spec, ports: [{ port: 80, protocol: 'TCP', nodePort: 30555 }] },
  });

let pki: TestPki;

async function runApply(source: TestBackend, dest: TestBackend, type: string) {
  const body = Buffer.from(applied(type));
  const call = {
    shard: 'services',
    path: `${SERVICE_PATH}${CLIENT_QUERY}`,
    headersForBody: callerHeaders(APPLY_YAML),
    body,
    contentType: APPLY_YAML,
    requested: requested(type),
    source: await connect(pki, 'source', source.port),
    destination: await connect(pki, 'destination', dest.port),
    codec: undefined,
    log: silentLog,
  };
  return answerThroughFront((res) => applySourceFirst(call, res));
}

beforeAll(async () => {
  pki = await testPki();
});
afterEach(closeOpened);

describe('a source-first server-side apply', () => {
  it("applies an update that allocates on the source first, forced, then on the destination with the source's nodePort", async () => {
    const [source, dest] = [await startTestBackend(pki, sourceAllocates), await startTestBackend(pki, destination(200, toNodePort))];
    const got = await runApply(source, dest, 'NodePort');
    expect([got.code, got.result?.write, got.outcome]).toEqual([200, 'update', 'updated']);
    // One dry run (it decided create or update), the current object read as the caller, then the apply.
    expect(calls(dest)).toEqual(['PATCH dry-run', `GET ${SERVICE_PATH}`, `PATCH ${SERVICE_PATH}`]);
    expect(dest.seen[1]!.rawHeaders).toContain('system:serviceaccount:apps:web');
    // The source: the client's apply as it came, as the bridge, forced (the synchronizer's writes own spec.type there).
    expect(source.seen.map((s) => `${s.method} ${s.url}`)).toEqual([`PATCH ${SERVICE_PATH}?fieldManager=kubectl&force=true`]);
    expect(source.seen[0]!.body.toString()).toBe(applied('NodePort'));
    expect(headerValue(source.seen[0]!.rawHeaders, 'content-type')).toBe(APPLY_YAML);
    expect(source.seen[0]!.rawHeaders).toContain('Bearer bridge-token');
    expect(source.seen[0]!.rawHeaders).not.toContain('system:serviceaccount:apps:web');
    // The destination: the client's apply (its query, force=false) as the caller, the applied object with the source's values.
    const apply = dest.seen[2]!;
    expect(apply.url).toBe(`${SERVICE_PATH}${CLIENT_QUERY}`);
    expect(headerValue(apply.rawHeaders, 'content-type')).toBe(APPLY_YAML);
    expect(apply.rawHeaders).toContain('system:serviceaccount:apps:web');
    expect(JSON.parse(apply.body.toString())).toEqual({
      ...requested('NodePort'),
      spec: { type: 'NodePort', clusterIP: '10.96.3.4', clusterIPs: ['10.96.3.4'], ports: [{ port: 80, nodePort: 30555 }] },
    });
    expect(got.body).toMatchObject({ metadata: { uid: 'destination-uid' }, spec: { ports: [{ port: 80, nodePort: 30555 }] } });
    await Promise.all([source.stop(), dest.stop()]);
  });

  it('leaves an apply that would update without allocating to the ordinary path, never touching the source', async () => {
    const [source, dest] = [await startTestBackend(pki, sourceAllocates), await startTestBackend(pki, destination(200, relabelled))];
    const got = await runApply(source, dest, 'ClusterIP');
    expect([got.result?.write, got.outcome]).toEqual(['update', 'not-allocating']);
    expect(calls(source)).toEqual([]);
    expect(calls(dest)).toEqual(['PATCH dry-run', `GET ${SERVICE_PATH}`]);
    await Promise.all([source.stop(), dest.stop()]);
  });

  it("gives the client the source's refusal and leaves the destination as it was", async () => {
    const source = await startTestBackend(pki, (_req, res) => json(res, 422, status(422, 'Invalid', 'provided port is already allocated')));
    const dest = await startTestBackend(pki, destination(200, toNodePort));
    const got = await runApply(source, dest, 'NodePort');
    expect([got.code, got.body.message, got.result?.write, got.outcome]).toEqual([422, 'provided port is already allocated', 'update', 'refused-by-source']);
    expect(calls(dest)).toEqual(['PATCH dry-run', `GET ${SERVICE_PATH}`]);
    await Promise.all([source.stop(), dest.stop()]);
  });

  it('still makes an apply the dry run says would create a create on the source', async () => {
    const [source, dest] = [
      await startTestBackend(pki, sourceAllocates),
      await startTestBackend(pki, destination(201, { kind: 'Service', metadata: { name: 'web' } })),
    ];
    const got = await runApply(source, dest, 'NodePort');
    expect([got.code, got.result?.write, got.outcome]).toEqual([201, 'create', 'created']);
    expect(calls(source)).toEqual(['POST /api/v1/namespaces/apps/services']);
    expect(calls(dest)).toEqual(['PATCH dry-run', `PATCH ${SERVICE_PATH}`]);
    await Promise.all([source.stop(), dest.stop()]);
  });
});
