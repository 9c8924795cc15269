// Local routing of a shard that moved and came back (docs/adr/0011): a real sidecar with a fake
// aggregator (the routing table, and a recorder of what reaches it) and a fake source API server. The
// sidecar applies the shard's resourceVersion offset both ways as the aggregator does, answers an older
// epoch's RVs itself with the aggregator's own Status bytes, sends bodies it does not rewrite to the
// aggregator, and retries a fenced write through the aggregator with what the client sent.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'node:https';
import { once } from 'node:events';
import { FENCE_NAME, FENCE_REFUSAL_TEXT } from '../../lib/routing/fence-message.js';
import { goJsonBody } from '../../lib/kube/go-json.js';
import { kubeStatus, kubeStatusResponse } from '../../lib/kube/status.js';
import { expiredMessage } from '../../lib/routing/status-responses.js';
import { parseRoutingTableQuery } from '../../lib/routing/routing-table-protocol.js';
import { RoutingState } from '../../lib/routing/routing-state.js';
import { beginHandoff, completeHandoff, emptyRoutingTable } from '../../lib/routing/routing-table.js';
import { waitUntil } from '../../lib/wait-until.js';
import { callSidecar, headerValues, startTestBackend, startTestSidecar, testPki } from '../helpers/sidecar-fixtures.js';
import type { SidecarUnderTest, TestBackend, TestPki } from '../helpers/sidecar-fixtures.js';

const NOW = new Date('2026-12-06T00:00:00Z');
const CM = '/api/v1/namespaces/a/configmaps';

/** configmaps moved to the destination (epoch 1) and back to the source (epoch 2); secrets never moved. */
function movedAndBack() {
  let t = completeHandoff(beginHandoff(emptyRoutingTable(), 'configmaps', 'destination', NOW), 'configmaps', '100', NOW);
  t = completeHandoff(beginHandoff(t, 'configmaps', 'source', NOW), 'configmaps', '200', NOW);
  return t;
}

/** A continue token as kube-apiserver writes it. */
const token = (rv: number | bigint | string, start = 'a/x') =>
  Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: Number(rv), start })).toString('base64url');
const tokenRV = (t: string) => (JSON.parse(Buffer.from(t, 'base64url').toString()) as { rv: number }).rv;

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

const isTablePath = (url: string) => parseRoutingTableQuery(url) !== undefined;

describe('sidecar local routing of a shard with a resourceVersion offset', () => {
  let pki: TestPki;
  let aggregator: TestBackend;
  let local: TestBackend;
  let sidecar: SidecarUnderTest;
  const table = new RoutingState();
  let offset: bigint;
  let olderEpochRV: string;
  let fenced = false;

  const apiCalls = (backend: TestBackend) => backend.seen.filter((r) => !isTablePath(r.url));
  const presented = (backendRV: number) => (BigInt(backendRV) + offset).toString();
  const json = (body: Buffer) => JSON.parse(body.toString()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

  beforeAll(async () => {
    pki = await testPki();
    table.update(movedAndBack(), '1');
    const epochs = table.table.shards.configmaps!.epochs;
    offset = BigInt(epochs[2]!.offset);
    olderEpochRV = (BigInt(epochs[1]!.offset) + 7n).toString();
    aggregator = await startTestBackend(pki, (req, res) => {
      const query = parseRoutingTableQuery(req.url!);
      if (!query) return reply(res, req.method === 'POST' ? 201 : 200, { via: 'aggregator' });
      const gone = new AbortController();
      res.once('close', () => gone.abort());
      const waited = query.held === undefined ? Promise.resolve() : table.waitForChange(query.held.generation, query.waitSeconds * 1000, gone.signal);
      void waited.then(() => reply(res, 200, table.table));
    });
    local = await startTestBackend(pki, (req, res, body) => handleLocal(req, res, body));
    sidecar = await startTestSidecar(pki, {
      upstreamPort: aggregator.port,
      localPort: local.port,
      extra: { BRIDGE_LOCAL_ROUTING: 'on', BRIDGE_ROUTING_TABLE_MAX_AGE_SECONDS: '30' },
    });
    await waitUntil('the sidecar to hold the moved-and-back table', async () =>
      sidecar.routingTable?.fresh && sidecar.routingTable.routing.table.generation === table.table.generation ? true : undefined,
    );
  });

  /** The fake source API server: backend RVs only, as kube-apiserver would answer. */
  function handleLocal(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const url = new URL(req.url!, 'https://x');
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"w","resourceVersion":"43"}}}\n{"type":"BOOKM');
      res.write('ARK","object":{"kind":"ConfigMap","metadata":{"resourceVersion":"44"}}}\n');
      return; // open until the sidecar closes it
    }
    if (fenced && req.method !== 'GET') {
      const message = `configmaps "x" is forbidden: ValidatingAdmissionPolicy '${FENCE_NAME}' with binding '${FENCE_NAME}' denied request: configmaps ${FENCE_REFUSAL_TEXT}`;
      return reply(res, 403, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Forbidden', code: 403 });
    }
    if (req.method === 'GET' && url.pathname === CM) {
      return reply(res, 200, {
        kind: 'ConfigMapList',
        metadata: { resourceVersion: '50', continue: token(50) },
        items: [{ metadata: { name: 'x', resourceVersion: '42' } }],
      });
    }
    if (req.method === 'GET') return reply(res, 200, { kind: 'ConfigMap', metadata: { name: 'x', resourceVersion: '42' } });
    if (url.pathname.endsWith('/forbidden')) return reply(res, 403, '{"kind":"Status","code":403,"reason":"Forbidden","message":"RBAC"}\n');
    reply(res, req.method === 'POST' ? 201 : 200, { kind: 'ConfigMap', metadata: { name: 'x', resourceVersion: '60' }, received: body.toString() });
  }

  afterAll(async () => {
    await sidecar.shutdown(1000);
    await aggregator.stop();
    await local.stop();
  });

  beforeEach(() => {
    fenced = false;
    aggregator.seen.length = 0;
    local.seen.length = 0;
  });

  const send = (method: string, path: string, body?: string, contentType = 'application/json', headers: Record<string, string> = {}) =>
    callSidecar(sidecar.port, pki, {
      method,
      path,
      body,
      headers: body === undefined ? headers : { 'content-type': contentType, 'content-length': String(Buffer.byteLength(body)), ...headers },
    });

  it('reads locally with the RVs presented in the current epoch, and asks the source for JSON without compression', async () => {
    const got = await send('GET', `${CM}/x`, undefined, undefined, {
      accept: 'application/vnd.kubernetes.protobuf,application/json',
      'accept-encoding': 'gzip',
    });
    expect(got.status).toBe(200);
    expect(json(got.body).metadata.resourceVersion).toBe(presented(42));
    expect(Number(got.headers['content-length'])).toBe(got.body.length);
    expect(apiCalls(aggregator)).toHaveLength(0);
    const seen = local.seen[0]!;
    expect(headerValues(seen.rawHeaders, 'accept')).toEqual(['application/json']);
    expect(headerValues(seen.rawHeaders, 'accept-encoding')).toEqual([]);
    expect(await sidecar.metrics.registry.metrics()).toMatch(/upstream_choices_total\{upstream="local",reason="source-owned-offset"\} [1-9]/);
  });

  it('rewrites a list: the query RV and continue token to the source, the answer to the presented epoch', async () => {
    const got = await send('GET', `${CM}?limit=1&resourceVersion=${presented(45)}&continue=${token(presented(48))}`);
    expect(got.status).toBe(200);
    const query = new URL(local.seen[0]!.url, 'https://x').searchParams;
    expect(query.get('resourceVersion')).toBe('45');
    expect(tokenRV(query.get('continue')!)).toBe(48);
    const list = json(got.body);
    expect(list.metadata.resourceVersion).toBe(presented(50));
    expect(BigInt(tokenRV(list.metadata.continue))).toBe(BigInt(presented(50)));
    expect(list.items[0].metadata.resourceVersion).toBe(presented(42));
    expect(apiCalls(aggregator)).toHaveLength(0);
  });

  it.each([
    ['a list', `${CM}?resourceVersion=OLD`],
    ['a continue token', `${CM}?limit=1&continue=TOKEN`],
  ])("answers %s with an older epoch's RV 410 itself, with the aggregator's Status bytes", async (_name, path) => {
    const isToken = path.includes('TOKEN');
    const shown = isToken ? token(olderEpochRV) : olderEpochRV;
    const got = await send('GET', path.replace('OLD', olderEpochRV).replace('TOKEN', shown));
    const expected = kubeStatusResponse(410, 'Expired', expiredMessage(shown, offset.toString(), isToken));
    expect(got.status).toBe(410);
    expect(got.body.toString()).toBe(expected.body);
    for (const name of ['content-type', 'content-length', 'cache-control']) expect(got.headers[name]).toBe(String(expected.headers[name]));
    expect(got.headers.date).toBeDefined();
    expect(apiCalls(local)).toHaveLength(0);
    expect(apiCalls(aggregator)).toHaveLength(0);
  });

  it("answers a watch with an older epoch's RV itself as kube-apiserver does: 200 and one ERROR event carrying the 410", async () => {
    const got = await send('GET', `${CM}?watch=true&resourceVersion=${olderEpochRV}`);
    expect(got.status).toBe(200);
    expect(got.body.toString()).toBe(goJsonBody({ type: 'ERROR', object: kubeStatus(410, 'Expired', expiredMessage(olderEpochRV, offset.toString())) }));
    expect(apiCalls(local)).toHaveLength(0);
    expect(apiCalls(aggregator)).toHaveLength(0);
  });

  it('sends an update (PUT) to the aggregator untouched: it replaces the annotations, so the identity step must put the marks back', async () => {
    const body = JSON.stringify({ kind: 'ConfigMap', metadata: { name: 'x', resourceVersion: presented(59) }, data: { k: 'v' } });
    const got = await send('PUT', `${CM}/x`, body);
    expect(json(got.body)).toEqual({ via: 'aggregator' });
    expect(apiCalls(local)).toHaveLength(0);
    expect(apiCalls(aggregator).map((r) => r.body.toString())).toEqual([body]);
    expect(await sidecar.metrics.registry.metrics()).toMatch(/upstream_choices_total\{upstream="upstream",reason="offset-identity-step"\} [1-9]/);
  });

  it('sends a patch naming a UID or the annotations to the aggregator untouched (the identity step maps or checks them)', async () => {
    for (const patch of [{ metadata: { uid: 'u-1' } }, { metadata: { annotations: null } }]) {
      const body = JSON.stringify(patch);
      expect(json((await send('PATCH', `${CM}/x`, body, 'application/merge-patch+json')).body)).toEqual({ via: 'aggregator' });
    }
    expect(apiCalls(local)).toHaveLength(0);
    expect(apiCalls(aggregator)).toHaveLength(2);
  });

  it('rewrites a patch: the body RV to the source (with its new length), the answer back', async () => {
    const body = JSON.stringify({ metadata: { resourceVersion: presented(59) }, data: { k: 'v' } });
    const got = await send('PATCH', `${CM}/x`, body, 'application/merge-patch+json');
    expect(got.status).toBe(200);
    expect(json(got.body).metadata.resourceVersion).toBe(presented(60));
    const seen = local.seen[0]!;
    expect(json(seen.body).metadata.resourceVersion).toBe('59');
    expect(headerValues(seen.rawHeaders, 'content-length')).toEqual([String(seen.body.length)]);
    expect(apiCalls(aggregator)).toHaveLength(0);
  });

  it('rewrites the preconditions of a delete', async () => {
    const body = JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { resourceVersion: presented(59) } });
    expect((await send('DELETE', `${CM}/x`, body)).status).toBe(200);
    expect(json(local.seen[0]!.body).preconditions.resourceVersion).toBe('59');
  });

  it("answers a patch with an older epoch's RV 409 itself, with the aggregator's Status bytes", async () => {
    const body = JSON.stringify({ metadata: { resourceVersion: olderEpochRV } });
    const got = await send('PATCH', `${CM}/x`, body, 'application/merge-patch+json');
    const expected = kubeStatusResponse(
      409,
      'Conflict',
      'Operation cannot be fulfilled on configmaps "x": the object has been modified; please apply your changes to the latest version and try again',
      undefined,
      { name: 'x', kind: 'configmaps' },
    );
    expect(got.status).toBe(409);
    expect(got.body.toString()).toBe(expected.body);
    expect(got.headers['content-type']).toBe('application/json');
    expect(apiCalls(local)).toHaveLength(0);
    expect(apiCalls(aggregator)).toHaveLength(0);
  });

  it.each([
    ['protobuf', 'application/vnd.kubernetes.protobuf', 'k8s\u0000protobuf bytes'],
    ['a YAML apply', 'application/apply-patch+yaml', 'metadata:\n  resourceVersion: "5"\n'],
    ['CBOR', 'application/cbor', '\u00a1arv'],
  ])('sends a write whose body is %s to the aggregator untouched', async (_name, contentType, body) => {
    const got = await send('PATCH', `${CM}/x`, body, contentType);
    expect(json(got.body)).toEqual({ via: 'aggregator' });
    expect(apiCalls(local)).toHaveLength(0);
    expect(apiCalls(aggregator).map((r) => [r.url, r.body.toString()])).toEqual([[`${CM}/x`, body]]);
    expect(await sidecar.metrics.registry.metrics()).toMatch(/upstream_choices_total\{upstream="upstream",reason="shard-rv-offset"\} [1-9]/);
  });

  it('retries a fenced write through the aggregator with the path and body the client sent', async () => {
    fenced = true;
    const path = `${CM}/x?fieldManager=m&resourceVersion=${presented(59)}`;
    const body = JSON.stringify({ metadata: { resourceVersion: presented(59) } });
    const got = await send('PATCH', path, body, 'application/merge-patch+json');
    expect(json(got.body)).toEqual({ via: 'aggregator' });
    expect(json(local.seen[0]!.body).metadata.resourceVersion).toBe('59');
    expect(apiCalls(aggregator).map((r) => [r.url, r.body.toString()])).toEqual([[path, body]]);
  });

  it('relays any other refusal of the source as the aggregator would (a JSON body re-serialized)', async () => {
    const got = await send('PATCH', `${CM}/forbidden`, '{"metadata":{}}', 'application/merge-patch+json');
    expect(got.status).toBe(403);
    expect(got.body.toString()).toBe('{"kind":"Status","code":403,"reason":"Forbidden","message":"RBAC"}\n');
    expect(apiCalls(aggregator)).toHaveLength(0);
  });

  it('passes a never-moved shard through untouched (protobuf and compression asked for as the client did)', async () => {
    await send('GET', '/api/v1/namespaces/a/secrets/s', undefined, undefined, { accept: 'application/vnd.kubernetes.protobuf', 'accept-encoding': 'gzip' });
    expect(headerValues(local.seen[0]!.rawHeaders, 'accept')).toEqual(['application/vnd.kubernetes.protobuf']);
    expect(headerValues(local.seen[0]!.rawHeaders, 'accept-encoding')).toEqual(['gzip']);
  });

  it("rewrites a local watch's events as they flow, and ends the watch once the shard starts changing owner again", async () => {
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: sidecar.port, path: `${CM}?watch=true&resourceVersion=${presented(40)}`, ca: pki.ca.certPem, agent: false },
        resolve,
      );
      req.on('error', reject);
      req.end();
    });
    expect(res.statusCode).toBe(200);
    expect(new URL(local.seen[0]!.url, 'https://x').searchParams.get('resourceVersion')).toBe('40');
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (text += chunk));
    await waitUntil('both events', async () => (text.split('\n').length >= 3 ? true : undefined));
    const events = text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; object: { metadata: { resourceVersion: string } } });
    expect(events.map((e) => [e.type, e.object.metadata.resourceVersion])).toEqual([
      ['ADDED', presented(43)],
      ['BOOKMARK', presented(44)],
    ]);
    const ended = once(res, 'end');
    table.update(beginHandoff(table.table, 'configmaps', 'destination', NOW), '2');
    await ended; // the test times out if the watch stays open
    const again = await send('GET', `${CM}/x`);
    expect(json(again.body)).toEqual({ via: 'aggregator' });
  });
});
