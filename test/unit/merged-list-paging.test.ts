// A merged LIST end to end against two fake backends (aggregator/request/merged-read.ts and
// merged-list.ts): pages of a limit through both sides under the bridge's continue token, the
// destination paged at the exact revision of the first page, a read retried when a hand-off changes the
// owners under it, and the refusals (older-epoch RV 410, protobuf-only 406, write across namespaces 405).
import { describe, expect, it } from '@jest/globals';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { serveMergedRead } from '../../aggregator/request/merged-read.js';
import type { MergedPrepared, ProxyContext } from '../../aggregator/request/request-context.js';
import { appendMergedEpoch, MergedRVCodec } from '../../lib/routing/merged-rv.js';
import { parseRequestInfo } from '../../lib/routing/request-info.js';
import { beginHandoff, completeHandoff } from '../../lib/routing/routing-table.js';
import { namespaceShardKey } from '../../lib/routing/shard-hash.js';
import type { ClusterSide, RoutingTable } from '../../lib/routing/types.js';
import { configMap, configMapList, NOW, splitTable } from '../helpers/merged-fixtures.js';

type Json = Record<string, unknown>;

/** One backend: its objects at its revision; lists with limit and its own continue token (an index), Exact checked. */
function fakeBackend(revision: number, items: Json[], seen: string[], onList?: () => void) {
  return {
    url: new URL('https://backend.test'),
    bridgeHeaders: {},
    rest: {
      // The quorum read of the cluster's revision (lib/kube/cluster-connection.ts currentRevision).
      async expect(_method: string, path: string) {
        if (path !== '/api/v1/namespaces?limit=1') throw new Error(`unexpected ${path}`);
        return { status: 200, body: { metadata: { resourceVersion: String(revision) } } };
      },
      async rawBuffered(call: { path: string }) {
        seen.push(call.path);
        onList?.();
        const q = new URLSearchParams(call.path.split('?')[1] ?? '');
        if (q.get('resourceVersionMatch') === 'Exact' && q.get('resourceVersion') !== String(revision))
          throw new Error(`exact ${q.get('resourceVersion')} != ${revision}`);
        const start = Number(q.get('continue') ?? 0);
        const limit = Number(q.get('limit') ?? 0) || items.length;
        const page = items.slice(start, start + limit);
        const next = start + limit < items.length ? String(start + limit) : undefined;
        const body = Buffer.from(JSON.stringify(configMapList(String(revision), page, next)));
        return { status: 200, statusMessage: 'OK', rawHeaders: ['Content-Type', 'application/json'], body };
      },
    },
  };
}

const sourceItems = ['kube-system/s0', 'team-a/copy', 'team-b/b1', 'team-b/b2', 'team-c/c1'].map((k) => configMap(k.split('/')[0]!, k.split('/')[1]!, '1100'));
const destinationItems = ['kube-system/d0', 'team-a/a1', 'team-a/a2', 'team-b/copy'].map((k) => configMap(k.split('/')[0]!, k.split('/')[1]!, '2100'));

function setup(table: RoutingTable = splitTable(['team-a']), onSourceList?: (ctx: { routing: { table: RoutingTable } }) => void) {
  const seen: Record<ClusterSide, string[]> = { source: [], destination: [] };
  // A RoutingState's two reads, over a table the tests replace directly.
  const routing = {
    table,
    mergedCodec(): MergedRVCodec {
      return MergedRVCodec.forTable(this.table);
    },
  };
  const ctx = {
    routing,
    clusters: {
      source: fakeBackend(1200, sourceItems, seen.source, () => onSourceList?.({ routing })),
      destination: fakeBackend(2300, destinationItems, seen.destination),
    },
    log: { warn: () => undefined },
  } as unknown as ProxyContext;
  return { ctx, seen };
}

async function read(ctx: ProxyContext, url: string, accept = 'application/json', method = 'GET') {
  const prepared = {
    merged: true,
    req: { url, rawHeaders: ['Accept', accept] } as unknown as IncomingMessage,
    info: parseRequestInfo(method, url),
    impersonate: [],
  } as unknown as MergedPrepared;
  const answer = { status: 0, body: '' };
  const res = {
    headersSent: false,
    writeHead(status: number) {
      answer.status = status;
      return res;
    },
    end(body: string | Buffer) {
      answer.body = String(body);
    },
  } as unknown as ServerResponse;
  await serveMergedRead(ctx, prepared, res);
  return { status: answer.status, body: answer.body ? (JSON.parse(answer.body) as Json) : {} };
}

const keys = (body: Json) => (body.items as Json[]).map((i) => `${(i.metadata as Json).namespace}/${(i.metadata as Json).name}`);

/** Every page of a merged list of limit 2, each answered 200; `afterFirst` runs between the first page and the second. */
async function readPages(ctx: ProxyContext, afterFirst?: () => void): Promise<Json[]> {
  const pages: Json[] = [];
  let url = '/api/v1/configmaps?limit=2';
  for (let i = 0; i < 10; i++) {
    const { status, body } = await read(ctx, url);
    expect(status).toBe(200);
    pages.push(body);
    if (i === 0) afterFirst?.();
    const token = (body.metadata as Json).continue as string | undefined;
    if (!token) break;
    url = `/api/v1/configmaps?limit=2&continue=${encodeURIComponent(token)}`;
  }
  return pages;
}

describe('merged list against two backends', () => {
  it('answers the union in one list when no limit is given', async () => {
    const { ctx } = setup();
    const { status, body } = await read(ctx, '/api/v1/configmaps');
    expect(status).toBe(200);
    expect(keys(body)).toEqual(['kube-system/s0', 'team-a/a1', 'team-a/a2', 'team-b/b1', 'team-b/b2', 'team-c/c1']);
  });

  it('pages with a limit through the source, then the destination at its first revision, under one merged RV', async () => {
    const { ctx, seen } = setup();
    const pages = await readPages(ctx);
    expect(pages.flatMap(keys)).toEqual(['kube-system/s0', 'team-b/b1', 'team-b/b2', 'team-c/c1', 'team-a/a1', 'team-a/a2']);
    expect(pages.every((p) => (p.items as Json[]).length <= 2)).toBe(true);
    expect(new Set(pages.map((p) => (p.metadata as Json).resourceVersion)).size).toBe(1);
    expect(seen.destination.some((p) => p.includes('resourceVersion=2300') && p.includes('resourceVersionMatch=Exact'))).toBe(true);
  });

  it('pages on with the owners of its first page when a namespace moves between pages: no duplicate, no gap', async () => {
    const { ctx, seen } = setup();
    const pages = await readPages(ctx, () => {
      // team-c (source-owned, c1 on a later page) moves to the destination after the first page.
      const later = new Date(NOW.getTime() + 60_000);
      const moved = completeHandoff(
        beginHandoff(ctx.routing.table, namespaceShardKey('team-c'), 'destination', later),
        namespaceShardKey('team-c'),
        '1250',
        later,
      );
      (ctx.routing as unknown as { table: RoutingTable }).table = appendMergedEpoch(moved, '1260', '2310', later);
    });
    expect(pages.flatMap(keys)).toEqual(['kube-system/s0', 'team-b/b1', 'team-b/b2', 'team-c/c1', 'team-a/a1', 'team-a/a2']);
    expect(seen.destination.some((p) => p.includes('resourceVersion=2300') && p.includes('resourceVersionMatch=Exact'))).toBe(true);
  });

  it('answers a list that fits its limit in one page, the destination filling what the source left, with no continue token', async () => {
    const { ctx, seen } = setup();
    const { status, body } = await read(ctx, '/api/v1/configmaps?limit=500');
    expect(status).toBe(200);
    expect(keys(body)).toEqual(['kube-system/s0', 'team-b/b1', 'team-b/b2', 'team-c/c1', 'team-a/a1', 'team-a/a2']);
    expect((body.metadata as Json).continue).toBeUndefined();
    expect(seen.destination.at(-1)).toContain('limit=495');
  });

  it('passes a merged RV to each backend as its own revision with the same match', async () => {
    const { ctx, seen } = setup();
    const first = await read(ctx, '/api/v1/configmaps');
    const rv = (first.body.metadata as Json).resourceVersion as string;
    await read(ctx, `/api/v1/configmaps?resourceVersion=${rv}&resourceVersionMatch=NotOlderThan&labelSelector=a%3Db`);
    expect(seen.source.at(-1)).toBe('/api/v1/configmaps?labelSelector=a%3Db&resourceVersion=1200&resourceVersionMatch=NotOlderThan');
    expect(seen.destination.at(-1)).toBe('/api/v1/configmaps?labelSelector=a%3Db&resourceVersion=2300&resourceVersionMatch=NotOlderThan');
  });

  it('reads again when a hand-off begins while it reads', async () => {
    let changed = false;
    const { ctx, seen } = setup(undefined, (c) => {
      if (changed) return;
      changed = true;
      c.routing.table = beginHandoff(c.routing.table, namespaceShardKey('team-c'), 'destination', NOW);
    });
    expect((await read(ctx, '/api/v1/configmaps')).status).toBe(200);
    expect(seen.source.length).toBe(2);
  });

  it('a replica whose table is behind reloads it for an RV of a newer merged epoch, and serves it; 410 if still unknown', async () => {
    const { ctx: writer } = setup();
    const newer = appendMergedEpoch(writer.routing.table, '1150', '2250', NOW);
    (writer.routing as unknown as { table: RoutingTable }).table = newer;
    const rv = ((await read(writer, '/api/v1/configmaps')).body.metadata as Json).resourceVersion as string;
    const { ctx: stale, seen } = setup();
    let refreshed = 0;
    (stale as unknown as { mergedEpochs: unknown }).mergedEpochs = {
      refresh: async () => {
        refreshed++;
        (stale.routing as unknown as { table: RoutingTable }).table = newer;
      },
    };
    expect((await read(stale, `/api/v1/configmaps?resourceVersion=${rv}&resourceVersionMatch=NotOlderThan`)).status).toBe(200);
    expect(refreshed).toBe(1);
    expect(seen.source.at(-1)).toContain('resourceVersion=1200&');
    const { ctx: unknownEpoch } = setup();
    (unknownEpoch as unknown as { mergedEpochs: unknown }).mergedEpochs = { refresh: async () => undefined };
    expect((await read(unknownEpoch, `/api/v1/configmaps?resourceVersion=${rv}`)).status).toBe(410);
  });

  it('asks the source for its revision only for a position past every source revision it answered with', async () => {
    const { ctx } = setup();
    const rest = ctx.clusters.source.rest as unknown as { expect: (...args: unknown[]) => Promise<unknown> };
    const quorumRead = rest.expect.bind(rest);
    let quorumReads = 0;
    rest.expect = (...args) => {
      quorumReads++;
      return quorumRead(...args);
    };
    const rv = ((await read(ctx, '/api/v1/configmaps')).body.metadata as Json).resourceVersion as string;
    expect((await read(ctx, `/api/v1/configmaps?resourceVersion=${rv}`)).status).toBe(200);
    expect(quorumReads).toBe(0);
    // Source revision 1201 is past the source's 1200: read, still past it (no newer table to load), 410.
    const ahead = MergedRVCodec.forTable(ctx.routing.table).present(1201n, 2300n);
    expect((await read(ctx, `/api/v1/configmaps?resourceVersion=${ahead}`)).status).toBe(410);
    expect(quorumReads).toBe(2);
  });

  it('answers 410 for an RV of an older merged epoch or a per-shard RV, and for a continue token of an older epoch', async () => {
    const { ctx } = setup();
    const first = await read(ctx, '/api/v1/configmaps?limit=2');
    const rv = (first.body.metadata as Json).resourceVersion as string;
    const token = (first.body.metadata as Json).continue as string;
    (ctx.routing as unknown as { table: RoutingTable }).table = appendMergedEpoch(ctx.routing.table, '1300', '2400', NOW);
    expect((await read(ctx, `/api/v1/configmaps?resourceVersion=${rv}`)).status).toBe(410);
    // A continue token outlives a new epoch (kube's outlive writes): its pages are read at the revisions it fixed.
    expect((await read(ctx, `/api/v1/configmaps?limit=2&continue=${encodeURIComponent(token)}`)).status).toBe(200);
    (ctx.routing as unknown as { table: RoutingTable }).table = { ...ctx.routing.table, merged: { epochs: [] } };
    expect((await read(ctx, `/api/v1/configmaps?limit=2&continue=${encodeURIComponent(token)}`)).status).toBe(410);
    expect((await read(ctx, '/api/v1/configmaps?resourceVersion=1200')).status).toBe(410);
    expect((await read(ctx, '/api/v1/configmaps?continue=bm90LWEtdG9rZW4')).status).toBe(400);
  });

  it('answers a protobuf-first client with JSON, refuses a protobuf-only one (406) and a write across namespaces (405)', async () => {
    const { ctx } = setup();
    expect((await read(ctx, '/api/v1/configmaps', 'application/vnd.kubernetes.protobuf, application/json')).status).toBe(200);
    expect((await read(ctx, '/api/v1/configmaps', 'application/vnd.kubernetes.protobuf')).status).toBe(406);
    expect((await read(ctx, '/api/v1/configmaps', 'application/json', 'DELETE')).status).toBe(405);
  });
});
