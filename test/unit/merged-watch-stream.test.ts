// A merged WATCH against two fake backends (aggregator/request/merged-watch.ts): the first merged epoch
// persisted by the watch itself does not end it; events of both sides arrive in one JSON stream; a
// namespace changing owner ends it.
import { describe, expect, it } from '@jest/globals';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import { storeRoller } from '../../aggregator/request/merged-epochs.js';
import { serveMergedWatch } from '../../aggregator/request/merged-watch.js';
import { sourceHasReached } from '../../aggregator/request/source-revision-floor.js';
import type { MergedPrepared, ProxyContext } from '../../aggregator/request/request-context.js';
import { ShardActivity } from '../../aggregator/handoff/shard-activity.js';
import { parseRequestInfo } from '../../lib/routing/request-info.js';
import { beginHandoff } from '../../lib/routing/routing-table.js';
import { RoutingState } from '../../lib/routing/routing-state.js';
import { namespaceShardKey } from '../../lib/routing/shard-hash.js';
import type { RoutingTable, RoutingTableStore } from '../../lib/routing/types.js';
import { configMap, configMapList, NOW, splitTable } from '../helpers/merged-fixtures.js';

function backend(revision: number, stream: PassThrough) {
  return {
    url: new URL('https://backend.test'),
    bridgeHeaders: {},
    rest: {
      rawBuffered: async () => ({ status: 200, statusMessage: 'OK', rawHeaders: [], body: Buffer.from(JSON.stringify(configMapList(String(revision), []))) }),
      raw: async () => ({ status: 200, statusMessage: 'OK', rawHeaders: [], body: stream as unknown as IncomingMessage }),
    },
  };
}

function memoryStore(routing: RoutingState): RoutingTableStore {
  let version = 1;
  return {
    load: async () => ({ table: routing.table, version: String(version) }),
    replace: async (_table: RoutingTable) => ({ version: String(++version) }),
    watch: () => () => undefined,
  } as unknown as RoutingTableStore;
}

describe('merged watch stream', () => {
  it('persists the first merged epoch itself, stays open, merges both sides, and ends when a namespace changes owner (not on other table changes)', async () => {
    const routing = new RoutingState();
    routing.update(splitTable(['team-a'], null), '1');
    const streams = { source: new PassThrough(), destination: new PassThrough() };
    const ctx = {
      routing,
      activity: new ShardActivity(),
      mergedEpochs: storeRoller(memoryStore(routing), routing, () => NOW),
      clusters: { source: backend(1000, streams.source), destination: backend(2000, streams.destination) },
      log: { warn: () => undefined },
    } as unknown as ProxyContext;
    const written: string[] = [];
    let ended = false;
    const res = Object.assign(new PassThrough(), {
      headersSent: false,
      writeHead: () => res,
      flushHeaders: () => undefined,
    });
    res.on('data', (c: Buffer) => written.push(c.toString()));
    res.on('finish', () => (ended = true));
    const url = '/api/v1/configmaps?watch=1';
    const prepared = {
      merged: true,
      req: { url, rawHeaders: [] },
      info: parseRequestInfo('GET', url),
      decision: { target: 'merged', reason: 'namespaces-split', shard: 'configmaps' },
      impersonate: [],
    } as unknown as MergedPrepared;
    expect(
      await serveMergedWatch(ctx, prepared, res as unknown as ServerResponse, {
        position: undefined,
        resourceVersion: { source: '', destination: '' },
        match: undefined,
      }),
    ).toBe(200);
    expect(routing.table.merged?.epochs).toHaveLength(1);
    streams.source.write(`${JSON.stringify({ type: 'ADDED', object: configMap('team-b', 'b', '1001') })}\n`);
    streams.destination.write(`${JSON.stringify({ type: 'ADDED', object: configMap('team-a', 'a', '2001') })}\n`);
    streams.destination.write(`${JSON.stringify({ type: 'ADDED', object: configMap('team-b', 'copy', '2002') })}\n`);
    await new Promise((r) => setTimeout(r, 50));
    const events = written
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { object: { metadata: { name: string } } });
    expect(events.map((e) => e.object.metadata.name)).toEqual(['b', 'a']);
    expect(ended).toBe(false);
    // A change of the table that moves no namespace (a type shard's hand-off) leaves it open.
    routing.update(beginHandoff(routing.table, 'secrets', 'destination', NOW), '8');
    await new Promise((r) => setTimeout(r, 50));
    expect(ended).toBe(false);
    routing.update(beginHandoff(routing.table, namespaceShardKey('team-c'), 'destination', NOW), '9');
    await new Promise((r) => setTimeout(r, 50));
    expect(ended).toBe(true);
    expect(streams.source.destroyed && streams.destination.destroyed).toBe(true);
    // The source revision the stream reached is known real: no quorum read (the fake backend has none to give).
    expect(await sourceHasReached(ctx.clusters.source, 1001n)).toBe(true);
  });
});
