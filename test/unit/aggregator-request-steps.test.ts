// The aggregator's request steps (aggregator/request/steps.ts): each refusal carries the status its error
// code declares (lib/errors.ts), and answerRefusal writes it as the Status kube-apiserver would.
import { describe, expect, it } from '@jest/globals';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BRIDGE_HOP_HEADER } from '../../lib/names.js';
import { beginHandoff, emptyRoutingTable } from '../../lib/routing/routing-table.js';
import { AGGREGATOR_HOP } from '../../aggregator/request/backend-headers.js';
import { answerRefusal } from '../../aggregator/request/refusals.js';
import { isMerged, isRefused, type MergedRouted, type ProxyContext, type Refusal } from '../../aggregator/request/request-context.js';
import type { RoutingTable } from '../../lib/routing/types.js';
import { splitTable } from '../helpers/merged-fixtures.js';
import { parse, route } from '../../aggregator/request/steps.js';

function fakeRequest(method: string, url: string, rawHeaders: string[] = []): IncomingMessage {
  return { method, url, rawHeaders, socket: {} } as unknown as IncomingMessage;
}

function fakeContext(options: { handoff?: boolean; fresh?: boolean } = {}) {
  const counted: unknown[][] = [];
  const table = options.handoff ? beginHandoff(emptyRoutingTable(), 'configmaps', 'destination', new Date()) : emptyRoutingTable();
  const ctx = {
    routing: { table },
    presence: { isFresh: () => options.fresh ?? true },
    clusters: { source: { side: 'source' }, destination: { side: 'destination' } },
    metrics: { request: (...args: unknown[]) => counted.push(args), refused: (...args: unknown[]) => counted.push(['refused', ...args]) },
  } as unknown as ProxyContext;
  return { ctx, counted };
}

/** The refusal a step returned, or a failed expectation. */
function refusalOf(outcome: object): Refusal {
  if (!isRefused(outcome)) throw new Error(`expected a refusal, got ${JSON.stringify(Object.keys(outcome))}`);
  return outcome.refused;
}

function errorOf(outcome: object) {
  const refusal = refusalOf(outcome);
  if (refusal.kind !== 'status') throw new Error(`expected a Status refusal, got ${refusal.kind}`);
  return refusal.error;
}

async function answered(refusal: Refusal): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const server = createServer((_req, res) => answerRefusal(res, refusal));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: '/' }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end();
    });
  } finally {
    server.close();
  }
}

describe('aggregator request steps', () => {
  it('parse refuses a request that already passed this aggregator with the routing loop code (508)', () => {
    const { ctx } = fakeContext();
    const error = errorOf(parse(ctx, fakeRequest('GET', '/api/v1/namespaces/a/configmaps', [BRIDGE_HOP_HEADER, AGGREGATOR_HOP])));
    expect([error.code, error.status, error.statusReason]).toEqual(['BRIDGE_ERR_ROUTING_LOOP', 508, 'InternalError']);
    expect(error.message).toBe('the request already passed through the cluster-bridge aggregator (routing loop)');
  });

  it("parse answers a request target Go's server refuses with Go's own 400", () => {
    const { ctx } = fakeContext();
    expect(refusalOf(parse(ctx, fakeRequest('GET', 'no-slash'))).kind).toBe('go-bad-request');
  });

  it('route holds a write to a shard that is changing owner: 503 with Retry-After, counted as held', async () => {
    const { ctx, counted } = fakeContext({ handoff: true });
    const info = { req: fakeRequest('POST', '/api/v1/namespaces/a/configmaps'), impersonation: undefined };
    const parsed = parse(ctx, info.req);
    if (isRefused(parsed)) throw new Error('parse refused a plain create');
    const refusal = refusalOf(route(ctx, parsed));
    const error = errorOf({ refused: refusal });
    expect([error.code, error.status, error.retryAfterSeconds]).toEqual(['BRIDGE_ERR_SHARD_HELD', 503, 1]);
    expect(counted).toEqual([['none', 'create', 503, 'shard-handoff-hold']]);
    const answer = await answered(refusal);
    expect(answer.status).toBe(503);
    expect(answer.headers['retry-after']).toBe('1');
    expect(JSON.parse(answer.body)).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'the configmaps shard is changing owner; retry shortly',
      reason: 'ServiceUnavailable',
      details: { retryAfterSeconds: 1 },
      code: 503,
    });
  });

  it('route holds shard writes while this replica cannot confirm its table, and lets reads through', () => {
    const { ctx, counted } = fakeContext({ fresh: false });
    const write = parse(ctx, fakeRequest('POST', '/api/v1/namespaces/a/configmaps'));
    const read = parse(ctx, fakeRequest('GET', '/api/v1/namespaces/a/configmaps'));
    if (isRefused(write) || isRefused(read)) throw new Error('parse refused a plain request');
    const error = errorOf(route(ctx, write));
    expect([error.code, error.status, error.message]).toEqual([
      'BRIDGE_ERR_SHARD_HELD',
      503,
      'this cluster-bridge aggregator replica cannot confirm its routing table; retry shortly',
    ]);
    expect(counted).toEqual([['none', 'create', 503, 'replica-not-confirmed']]);
    expect(isRefused(route(ctx, read))).toBe(false);
  });

  it('route sends a cluster-wide read of a carried type with split namespaces to the merged read, not to one side', () => {
    const { ctx } = fakeContext();
    (ctx.routing as { table: RoutingTable }).table = splitTable(['team-a']);
    const list = parse(ctx, fakeRequest('GET', '/api/v1/configmaps'));
    if (isRefused(list)) throw new Error('parse refused a plain request');
    const routed = route(ctx, list);
    expect(isMerged(routed)).toBe(true);
    expect((routed as MergedRouted).decision).toEqual({ target: 'merged', reason: 'namespaces-split', shard: 'configmaps' });
  });

  it('an RV of an older epoch is answered as a compacted one: 410 Expired for a list', async () => {
    const answer = await answered({ kind: 'expired', verb: 'list', query: { expiredRV: '12' }, epochStart: '5000' });
    expect(answer.status).toBe(410);
    expect(JSON.parse(answer.body)).toMatchObject({ reason: 'Expired', code: 410, message: 'too old resource version: 12 (5000)' });
  });
});
