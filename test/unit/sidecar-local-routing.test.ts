// Local routing through a real sidecar with fake backends: a fake aggregator serving the routing table
// (the real long-poll endpoint's logic) and a fake local API server that can refuse writes the way the
// source's fence does. The fenced write is retried once through the aggregator, and never twice.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'node:https';
import { once } from 'node:events';
import { FENCE_NAME, FENCE_REFUSAL_TEXT } from '../../lib/routing/fence-message.js';
import { parseRoutingTableQuery } from '../../lib/routing/routing-table-protocol.js';
import { RoutingState } from '../../lib/routing/routing-state.js';
import { beginHandoff, completeHandoff, emptyRoutingTable } from '../../lib/routing/routing-table.js';
import { waitUntil } from '../../lib/wait-until.js';
import { callSidecar, startTestBackend, startTestSidecar, testPki } from '../helpers/sidecar-fixtures.js';
import type { SidecarUnderTest, TestBackend, TestPki } from '../helpers/sidecar-fixtures.js';

const NOW = new Date('2026-12-06T00:00:00Z');
const WRITE_LIMIT = 1024;

function fenceRefusal(resource: string): string {
  const message = `${resource} "x" is forbidden: ValidatingAdmissionPolicy '${FENCE_NAME}' with binding '${FENCE_NAME}' denied request: ${resource} ${FENCE_REFUSAL_TEXT}`;
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Forbidden', code: 403 });
}

function reply(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
}

const isTablePath = (url: string) => parseRoutingTableQuery(url) !== undefined;

describe('sidecar local routing', () => {
  let pki: TestPki;
  let aggregator: TestBackend;
  let local: TestBackend;
  let sidecar: SidecarUnderTest;
  const table = new RoutingState();
  /** Paths the fake local API server refuses with the fence's message; the aggregator too when `fenceAggregator`. */
  let fencedLocally = false;
  let fenceAggregator = false;

  const writes = (backend: TestBackend, path: string) => backend.seen.filter((r) => r.method === 'POST' && r.url === path);
  const apiCalls = (backend: TestBackend) => backend.seen.filter((r) => !isTablePath(r.url));
  const tableFetches = () => aggregator.seen.filter((r) => isTablePath(r.url)).length;

  beforeAll(async () => {
    pki = await testPki();
    table.update(completeHandoff(beginHandoff(emptyRoutingTable(), 'secrets', 'destination', NOW), 'secrets', '100', NOW), '1');
    aggregator = await startTestBackend(pki, (req, res) => {
      const query = parseRoutingTableQuery(req.url!);
      if (query) {
        const gone = new AbortController();
        res.once('close', () => gone.abort());
        const waited = query.held === undefined ? Promise.resolve() : table.waitForChange(query.held.generation, query.waitSeconds * 1000, gone.signal);
        return void waited.then(() => reply(res, 200, JSON.stringify(table.table)));
      }
      if (fenceAggregator && req.method === 'POST') return reply(res, 403, fenceRefusal('configmaps'));
      reply(res, req.method === 'POST' ? 201 : 200, JSON.stringify({ via: 'aggregator' }));
    });
    local = await startTestBackend(pki, (req, res) => handleLocal(req, res));
    sidecar = await startTestSidecar(
      pki,
      {
        upstreamPort: aggregator.port,
        localPort: local.port,
        failMode: 'local',
        extra: { BRIDGE_LOCAL_ROUTING: 'on', BRIDGE_ROUTING_TABLE_MAX_AGE_SECONDS: '3', BRIDGE_LOCAL_WRITE_MAX_BYTES: String(WRITE_LIMIT) },
      },
      { breakerPolicy: { baseOpenMs: 50, maxOpenMs: 100 } },
    );
    await waitUntil('the sidecar to hold a fresh routing table', async () => (sidecar.routingTable?.fresh ? true : undefined), { timeoutMs: 10_000 });
  });

  function handleLocal(req: IncomingMessage, res: ServerResponse): void {
    if (req.url!.includes('watch=true')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"w","resourceVersion":"5"}}}\n');
      return; // open until the sidecar closes it
    }
    if (req.url!.endsWith('/rbac'))
      return reply(res, 403, JSON.stringify({ kind: 'Status', code: 403, reason: 'Forbidden', message: 'configmaps is forbidden: RBAC' }));
    if (fencedLocally && req.method !== 'GET') return reply(res, 403, fenceRefusal('configmaps'));
    reply(res, req.method === 'POST' ? 201 : 200, JSON.stringify({ via: 'local' }));
  }

  afterAll(async () => {
    await sidecar.shutdown(1000);
    await aggregator.stop();
    await local.stop();
  });

  beforeEach(() => {
    fencedLocally = false;
    fenceAggregator = false;
    aggregator.seen.length = 0;
    local.seen.length = 0;
  });

  const post = (path: string, body: string) =>
    callSidecar(sidecar.port, pki, { method: 'POST', path, body, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });

  it('sends a source-owned read to the local API server and a destination-owned one to the aggregator', async () => {
    const mine = await callSidecar(sidecar.port, pki, { path: '/api/v1/namespaces/a/configmaps/x' });
    const moved = await callSidecar(sidecar.port, pki, { path: '/api/v1/namespaces/a/secrets/x' });
    expect(JSON.parse(mine.body.toString())).toEqual({ via: 'local' });
    expect(JSON.parse(moved.body.toString())).toEqual({ via: 'aggregator' });
    expect(apiCalls(aggregator).map((r) => r.url)).toEqual(['/api/v1/namespaces/a/secrets/x']);
    expect(apiCalls(local).map((r) => r.url)).toEqual(['/api/v1/namespaces/a/configmaps/x']);
    const metrics = await sidecar.metrics.registry.metrics();
    expect(metrics).toMatch(/cluster_bridge_sidecar_upstream_choices_total\{upstream="local",reason="source-owned-shard"\} [1-9]/);
    expect(metrics).toMatch(/cluster_bridge_sidecar_upstream_choices_total\{upstream="upstream",reason="destination-owned"\} [1-9]/);
    expect(metrics).toContain(`cluster_bridge_sidecar_routing_table_generation ${table.table.generation}`);
    expect(metrics).toContain('cluster_bridge_sidecar_routing_table_fresh 1');
  });

  it('retries a write the fence refused once through the aggregator, with the same body, after fetching the table again', async () => {
    fencedLocally = true;
    const fetchesBefore = tableFetches();
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'f-' }, data: { k: 'v' } });
    const answer = await post('/api/v1/namespaces/a/configmaps', body);
    expect(answer.status).toBe(201);
    expect(JSON.parse(answer.body.toString())).toEqual({ via: 'aggregator' });
    expect(writes(local, '/api/v1/namespaces/a/configmaps')).toHaveLength(1);
    expect(writes(aggregator, '/api/v1/namespaces/a/configmaps').map((r) => r.body.toString())).toEqual([body]);
    expect(tableFetches()).toBeGreaterThan(fetchesBefore);
    expect(await sidecar.metrics.registry.metrics()).toMatch(/cluster_bridge_sidecar_fence_retries_total [1-9]/);
  });

  it('never retries twice: a fence refusal from the aggregator is the answer', async () => {
    fencedLocally = true;
    fenceAggregator = true;
    const answer = await post('/api/v1/namespaces/a/configmaps', '{"metadata":{"generateName":"g-"}}');
    expect(answer.status).toBe(403);
    expect(answer.body.toString()).toContain(FENCE_REFUSAL_TEXT);
    expect(writes(local, '/api/v1/namespaces/a/configmaps')).toHaveLength(1);
    expect(writes(aggregator, '/api/v1/namespaces/a/configmaps')).toHaveLength(1);
  });

  it('relays any other 403 from the local API server without a retry', async () => {
    const answer = await post('/api/v1/namespaces/a/configmaps/rbac', '{}');
    expect(answer.status).toBe(403);
    expect(answer.body.toString()).toContain('RBAC');
    expect(apiCalls(aggregator)).toHaveLength(0);
    expect(local.seen.filter((r) => r.url.endsWith('/rbac'))).toHaveLength(1);
  });

  it('sends a write whose body exceeds the buffer bound to the aggregator in the first place', async () => {
    const big = JSON.stringify({ data: { k: 'x'.repeat(WRITE_LIMIT) } });
    const small = JSON.stringify({ data: { k: 'x' } });
    expect((await post('/api/v1/namespaces/a/configmaps', big)).status).toBe(201);
    expect(writes(aggregator, '/api/v1/namespaces/a/configmaps').map((r) => r.body.length)).toEqual([Buffer.byteLength(big)]);
    expect(writes(local, '/api/v1/namespaces/a/configmaps')).toHaveLength(0);
    expect((await post('/api/v1/namespaces/a/configmaps', small)).status).toBe(201);
    expect(writes(local, '/api/v1/namespaces/a/configmaps').map((r) => r.body.toString())).toEqual([small]);
  });

  it('ends a local watch on a shard once the shard starts changing owner, and then sends it to the aggregator', async () => {
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: sidecar.port, path: '/api/v1/namespaces/a/configmaps?watch=true', ca: pki.ca.certPem, agent: false },
        resolve,
      );
      req.on('error', reject);
      req.end();
    });
    expect(res.statusCode).toBe(200);
    const ended = once(res, 'end');
    res.resume();
    table.update(beginHandoff(table.table, 'configmaps', 'destination', NOW), '2');
    await ended; // the test times out if the watch stays open
    const again = await callSidecar(sidecar.port, pki, { path: '/api/v1/namespaces/a/configmaps/x' });
    expect(JSON.parse(again.body.toString())).toEqual({ via: 'aggregator' });
    expect(local.seen.filter((r) => r.url.includes('watch=true'))).toHaveLength(1);
  });

  it('answers 503 with Retry-After, never the source, for a moved shard while the aggregator is unreachable, by the last table even once stale', async () => {
    fencedLocally = true; // the source's fence refuses writes to secrets, as it would
    await aggregator.stop();
    try {
      await waitUntil('the routing table to go stale', async () => (sidecar.routingTable!.fresh ? undefined : true), { timeoutMs: 10_000 });
      for (const call of [
        () => post('/api/v1/namespaces/a/secrets', '{"metadata":{"name":"s"}}'),
        () => callSidecar(sidecar.port, pki, { path: '/api/v1/namespaces/a/secrets/s' }),
        () => callSidecar(sidecar.port, pki, { path: '/api/v1/secrets?watch=true&resourceVersion=105' }),
      ]) {
        const answer = await call();
        expect([answer.status, answer.headers['retry-after']]).toEqual([503, '1']);
        expect(JSON.parse(answer.body.toString())).toMatchObject({ kind: 'Status', code: 503, reason: 'ServiceUnavailable' });
      }
      expect(apiCalls(local)).toEqual([]);
      // What the source serves as the aggregator would still goes there: a shard it owns, located resources.
      for (const path of ['/api/v1/namespaces/a/services/s', '/api/v1/namespaces/a/pods']) {
        const answer = await callSidecar(sidecar.port, pki, { path });
        expect([answer.status, JSON.parse(answer.body.toString())]).toEqual([200, { via: 'local' }]);
      }
    } finally {
      await aggregator.start();
    }
    await waitUntil('the sidecar to hold a fresh routing table again', async () => (sidecar.routingTable?.fresh ? true : undefined), { timeoutMs: 10_000 });
  });

  it('never retries twice: with the aggregator unreachable the retry falls back to the local API server, whose fence refusal becomes 503', async () => {
    table.update({ ...emptyRoutingTable(), generation: table.table.generation + 1 }, '3');
    await waitUntil('the sidecar to route configmaps locally again', async () =>
      sidecar.routingTable!.routing.table.generation === table.table.generation ? true : undefined,
    );
    fencedLocally = true;
    await aggregator.stop();
    try {
      const answer = await post('/api/v1/namespaces/a/configmaps', '{"metadata":{"generateName":"h-"}}');
      // The fence refused it twice, so it never executed; the aggregator that could take it is unreachable: a transient fault.
      expect([answer.status, answer.headers['retry-after']]).toEqual([503, '1']);
      expect(writes(local, '/api/v1/namespaces/a/configmaps')).toHaveLength(2);
    } finally {
      await aggregator.start();
    }
  });
});
