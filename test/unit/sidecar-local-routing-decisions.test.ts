// Local routing's pure parts: which requests may go straight to the source (table-driven over every
// class of request), the body bound of local writes, and the routing table's freshness bound.
import { describe, expect, it } from '@jest/globals';
import { parseRequestInfo } from '../../lib/routing/request-info.js';
import { RoutingState } from '../../lib/routing/routing-state.js';
import { abortHandoff, beginHandoff, completeHandoff, emptyRoutingTable, route } from '../../lib/routing/routing-table.js';
import type { RoutingTable } from '../../lib/routing/types.js';
import type { SelectReason, UpstreamChoice } from '../../sidecar/upstream-selector.js';
import { localFallback } from '../../sidecar/local-fallback.js';
import { chooseUpstream, localEpoch, shardLocality, type TableView } from '../../sidecar/local-route-decision.js';
import { LocalRoutingSelector } from '../../sidecar/local-routing.js';
import { boundLocalWrite, contentLength } from '../../sidecar/local-write.js';
import { boundOffsetUpgrade, boundOffsetWrite } from '../../sidecar/offset-rewrite.js';
import { RoutingTableClient, type TableFetch } from '../../sidecar/routing-table-client.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';

const NOW = new Date('2026-12-06T00:00:00Z');

/** secrets moved to the destination; services changing owner; deployments moved and came back; leases aborted a move. */
function testTable(): RoutingTable {
  let t = emptyRoutingTable();
  t = completeHandoff(beginHandoff(t, 'secrets', 'destination', NOW), 'secrets', '100', NOW);
  t = beginHandoff(t, 'services', 'destination', NOW);
  t = completeHandoff(beginHandoff(t, 'deployments.apps', 'destination', NOW), 'deployments.apps', '200', NOW);
  t = completeHandoff(beginHandoff(t, 'deployments.apps', 'source', NOW), 'deployments.apps', '300', NOW);
  t = abortHandoff(beginHandoff(t, 'leases.coordination.k8s.io', 'destination', NOW), 'leases.coordination.k8s.io');
  return { ...t, classOverrides: { 'widgets.example.com': 'located' } };
}

function view(table = testTable(), fresh = true): TableView {
  const routing = new RoutingState();
  routing.update(table, '1');
  return { routing, fresh };
}

const local = (reason: SelectReason, extra: Partial<UpstreamChoice> = {}): UpstreamChoice => ({ target: 'local', reason, ...extra });
const upstream = (reason: SelectReason, extra: Partial<UpstreamChoice> = {}): UpstreamChoice => ({ target: 'upstream', reason, ...extra });

describe('localFallback: what the source may answer while the aggregator is unreachable', () => {
  it.each([
    ['GET', '/version', 'allowed'],
    ['GET', '/apis/apps/v1', 'allowed'],
    ['GET', '/api/v1/namespaces/a/pods', 'allowed'],
    ['GET', '/api/v1/namespaces/kube-system/secrets/x', 'allowed'],
    ['POST', '/api/v1/namespaces/a/configmaps', 'allowed'], // never moved
    ['GET', '/api/v1/namespaces/a/leases', 'allowed'], // an aborted move: still epoch 0 at the source
    ['POST', '/api/v1/namespaces/a/secrets', 'destination-owned'],
    ['GET', '/api/v1/secrets?watch=true&resourceVersion=150', 'destination-owned'],
    ['GET', '/api/v1/namespaces/a/services/s', 'shard-handoff'],
    ['PUT', '/apis/apps/v1/namespaces/a/deployments/d', 'shard-rv-offset'],
    ['GET', '/apis/apps/v1/deployments', 'shard-rv-offset'],
  ])('%s %s: %s', (method, url, expected) => {
    const verdict = localFallback(parseRequestInfo(method, url), view(testTable(), false));
    expect(verdict.allowed ? 'allowed' : verdict.reason).toBe(expected);
  });

  it('before any table, refuses every shard request and allows what is never a shard', () => {
    expect(localFallback(parseRequestInfo('GET', '/api/v1/namespaces/a/configmaps'), undefined)).toEqual({ allowed: false, reason: 'no-table' });
    expect(localFallback(parseRequestInfo('GET', '/api/v1/namespaces/a/pods'), undefined)).toEqual({ allowed: true });
    expect(localFallback(parseRequestInfo('GET', '/api'), undefined)).toEqual({ allowed: true });
  });
});

describe('chooseUpstream: what may go straight to the source', () => {
  it.each([
    // non-resource and discovery: the aggregator sends them to the source
    ['GET', '/version', local('non-resource')],
    ['GET', '/healthz?verbose', local('non-resource')],
    ['GET', '/livez', local('non-resource')],
    ['GET', '/api', local('discovery')],
    ['GET', '/apis', local('discovery')],
    ['GET', '/apis/apps/v1', local('discovery')],
    ['GET', '/api/v1', local('discovery')],
    ['GET', '/openapi/v2', local('discovery')],
    ['GET', '/openapi/v3/apis/apps/v1?hash=abc', local('discovery')],
    // located: what runs in the source, and its upgrades (exec, attach, port-forward, logs)
    ['GET', '/api/v1/namespaces/a/pods', local('located')],
    ['POST', '/api/v1/namespaces/a/pods', local('located')],
    ['GET', '/api/v1/namespaces/a/pods?watch=true&resourceVersion=5', local('located')],
    ['POST', '/api/v1/namespaces/a/pods/p/exec?command=ls&stdout=true', local('located')],
    ['GET', '/api/v1/namespaces/a/pods/p/attach?stdin=true', local('located')],
    ['POST', '/api/v1/namespaces/a/pods/p/portforward?ports=80', local('located')],
    ['GET', '/api/v1/namespaces/a/pods/p/log?follow=true', local('located')],
    ['GET', '/api/v1/nodes', local('located')],
    ['POST', '/api/v1/namespaces/a/events', local('located')],
    ['GET', '/apis/apps/v1/namespaces/a/replicasets', local('located')],
    ['GET', '/apis/example.com/v1/namespaces/a/widgets', local('located')], // a plan's class override
    // system: each cluster's machinery, never moved (even a moved type, in a system namespace)
    ['GET', '/api/v1/namespaces/kube-system/configmaps/x', local('system')],
    ['PUT', '/api/v1/namespaces/kube-system/secrets/x', local('system')],
    ['GET', '/apis/apiregistration.k8s.io/v1/apiservices', local('system')],
    ['GET', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n', local('system')],
    // shards the source owns in epoch 0: reads local, writes local but fenceable
    ['GET', '/api/v1/namespaces/a/configmaps/x', local('source-owned-shard', { shard: 'configmaps', fenceable: false })],
    ['GET', '/api/v1/configmaps?watch=1', local('source-owned-shard', { shard: 'configmaps', fenceable: false })],
    ['GET', '/api/v1/watch/namespaces/a/configmaps', local('source-owned-shard', { shard: 'configmaps', fenceable: false })],
    ['POST', '/api/v1/namespaces/a/configmaps', local('source-owned-shard', { shard: 'configmaps', fenceable: true })],
    ['PATCH', '/api/v1/namespaces/a/configmaps/x', local('source-owned-shard', { shard: 'configmaps', fenceable: true })],
    ['DELETE', '/api/v1/namespaces/a/configmaps', local('source-owned-shard', { shard: 'configmaps', fenceable: true })],
    ['PUT', '/apis/apps/v1/namespaces/a/statefulsets/s/status', local('source-owned-shard', { shard: 'statefulsets.apps', fenceable: true })],
    // a move that was aborted never left epoch 0
    ['GET', '/apis/coordination.k8s.io/v1/namespaces/a/leases/l', local('source-owned-shard', { shard: 'leases.coordination.k8s.io', fenceable: false })],
    // everything else goes through the aggregator
    ['GET', '/api/v1/namespaces/a/secrets/s', upstream('destination-owned', { shard: 'secrets' })],
    ['POST', '/api/v1/namespaces/a/secrets', upstream('destination-owned', { shard: 'secrets' })],
    ['GET', '/api/v1/secrets?watch=true', upstream('destination-owned', { shard: 'secrets' })],
    ['GET', '/api/v1/namespaces/a/services/s', upstream('shard-handoff', { shard: 'services' })],
    ['POST', '/api/v1/namespaces/a/services', upstream('shard-handoff', { shard: 'services' })],
    ['GET', '/api/v1/namespaces/a/services/s/proxy/metrics', local('located')], // proxies reach where pods run
    // moved and came back: local, with the epoch's codec (its RVs carry an offset)
    ['GET', '/apis/apps/v1/namespaces/a/deployments/d', local('source-owned-offset', { shard: 'deployments.apps', fenceable: false })],
    ['GET', '/apis/apps/v1/deployments?watch=true', local('source-owned-offset', { shard: 'deployments.apps', fenceable: false })],
    ['PATCH', '/apis/apps/v1/namespaces/a/deployments/d/scale', local('source-owned-offset', { shard: 'deployments.apps', fenceable: true })],
  ] as const)('%s %s', (method, url, expected) => {
    const info = parseRequestInfo(method, url);
    const tableView = view();
    const choice = chooseUpstream(info, tableView);
    const { codec, ...rest } = choice;
    expect(rest).toEqual(expected);
    // Only an offset shard's local choice carries a codec: the table's own, of the shard's current epoch (2).
    if (choice.reason === 'source-owned-offset') expect([codec, codec?.current.epoch]).toEqual([tableView.routing.codec(choice.shard!), 2]);
    else expect(codec).toBeUndefined();
    // Local only where the aggregator itself would send the request to the source.
    if (choice.target === 'local') expect(route(info, testTable()).target).toBe('source');
  });

  it('sends everything to the aggregator before the first table and once the table is older than the bound', () => {
    for (const url of ['/version', '/api', '/api/v1/namespaces/a/pods', '/api/v1/namespaces/a/configmaps']) {
      expect(chooseUpstream(parseRequestInfo('GET', url), undefined)).toEqual(upstream('no-table'));
      expect(chooseUpstream(parseRequestInfo('GET', url), view(testTable(), false))).toEqual(upstream('table-stale'));
    }
  });

  it('sends reads of a shard whose reads the aggregator shadows to the aggregator, and its writes still local', () => {
    const shadowed = { ...view(), shadowed: new Set(['configmaps']) };
    for (const url of ['/api/v1/namespaces/a/configmaps/x', '/api/v1/namespaces/a/configmaps', '/api/v1/configmaps?watch=true']) {
      expect(chooseUpstream(parseRequestInfo('GET', url), shadowed)).toEqual(upstream('shard-shadowed', { shard: 'configmaps' }));
    }
    expect(chooseUpstream(parseRequestInfo('POST', '/api/v1/namespaces/a/configmaps'), shadowed)).toEqual(
      local('source-owned-shard', { shard: 'configmaps', fenceable: true }),
    );
    expect(chooseUpstream(parseRequestInfo('GET', '/api/v1/namespaces/a/pods'), shadowed)).toEqual(local('located'));
  });

  it('shardLocality names why a shard is not local, and localEpoch the epoch a local one is served in', () => {
    const { routing } = view();
    const shards = ['configmaps', 'secrets', 'services', 'deployments.apps', 'leases.coordination.k8s.io'];
    expect(shards.map((s) => shardLocality(routing, s))).toEqual([
      'source-owned-shard',
      'destination-owned',
      'shard-handoff',
      'source-owned-offset',
      'source-owned-shard',
    ]);
    expect(shards.map((s) => localEpoch(routing, s))).toEqual([0, undefined, undefined, 2, 0]);
  });

  it('sends reads of an offset shard that the aggregator shadows to it, and an offset shard changing owner again too', () => {
    const shadowed = { ...view(), shadowed: new Set(['deployments.apps']) };
    expect(chooseUpstream(parseRequestInfo('GET', '/apis/apps/v1/namespaces/a/deployments'), shadowed)).toEqual(
      upstream('shard-shadowed', { shard: 'deployments.apps' }),
    );
    const moving = view(beginHandoff(testTable(), 'deployments.apps', 'destination', NOW));
    expect(chooseUpstream(parseRequestInfo('GET', '/apis/apps/v1/namespaces/a/deployments'), moving)).toEqual(
      upstream('shard-handoff', { shard: 'deployments.apps' }),
    );
  });
});

describe('boundLocalWrite: a local write is buffered whole, or goes to the aggregator', () => {
  const write = local('source-owned-shard', { shard: 'configmaps', fenceable: true });
  const read = local('source-owned-shard', { shard: 'configmaps', fenceable: false });
  it.each([
    ['a body within the bound stays local', write, true, 1024, write],
    ['a body exactly at the bound stays local', write, true, 4096, write],
    ['a body one byte over goes to the aggregator', write, true, 4097, upstream('write-body-over-limit', { shard: 'configmaps' })],
    ['a chunked body of unknown length goes to the aggregator', write, true, undefined, upstream('write-body-unknown-length', { shard: 'configmaps' })],
    ['a write without a body (DELETE) stays local', write, false, undefined, write],
    ['a read is not buffered', read, false, undefined, read],
    ['a located write is not buffered (never fenced)', local('located'), true, 10_000_000, local('located')],
  ] as const)('%s', (_name, choice, hasBody, length, expected) => {
    expect(boundLocalWrite(choice, hasBody, length, 4096)).toEqual(expected);
  });

  it.each([
    [['Content-Length', '12'], 12],
    [['content-length', ' 7 '], 7],
    [['Transfer-Encoding', 'chunked'], undefined],
    [['Content-Length', '-1'], undefined],
    [['Content-Length', '1e3'], undefined],
  ] as const)('contentLength(%j) is %s', (raw, expected) => {
    expect(contentLength(raw)).toBe(expected);
  });
});

describe('boundOffsetWrite and boundOffsetUpgrade: what of an offset shard the sidecar does not rewrite itself', () => {
  const offsetChoice = (fenceable: boolean) => chooseUpstream(parseRequestInfo(fenceable ? 'PUT' : 'GET', '/apis/apps/v1/namespaces/a/deployments/d'), view());
  const toAggregator = upstream('shard-rv-offset', { shard: 'deployments.apps' });
  it.each([
    ['application/json', true],
    ['application/merge-patch+json', true],
    ['application/strategic-merge-patch+json', true],
    ['application/json-patch+json', true],
    ['application/json; charset=utf-8', true],
    ['application/vnd.kubernetes.protobuf', false],
    ['application/apply-patch+yaml', false],
    ['application/yaml', false],
    ['application/cbor', false],
    ['application/apply-patch+cbor', false],
    ['text/plain', false],
    [undefined, false],
  ] as const)('a write with a %s body is rewritten locally: %s', (contentType, locally) => {
    const write = offsetChoice(true);
    const headers = contentType ? ['Content-Type', contentType] : [];
    expect(boundOffsetWrite(write, true, headers)).toEqual(locally ? write : toAggregator);
    expect(boundOffsetWrite(write, false, headers)).toBe(write); // no body: nothing to rewrite
  });

  it('leaves never-moved shards alone, and sends offset upgrades to the aggregator', () => {
    const never = chooseUpstream(parseRequestInfo('PUT', '/api/v1/namespaces/a/configmaps/x'), view());
    expect(boundOffsetWrite(never, true, ['Content-Type', 'application/vnd.kubernetes.protobuf'])).toBe(never);
    expect(boundOffsetUpgrade(never)).toBe(never);
    expect(boundOffsetUpgrade(offsetChoice(false))).toEqual(toAggregator);
  });
});

describe('RoutingTableClient: the freshness bound', () => {
  function fakeAggregator(tables: RoutingTable[]) {
    let clock = 0;
    const paths: string[] = [];
    let next = 0;
    let failing = false;
    const fetch: TableFetch = async (path) => {
      paths.push(path);
      clock += 400; // every answer takes 400 ms of the fake clock (a long poll)
      if (failing) throw new Error('connect ECONNREFUSED');
      return { status: 200, body: JSON.stringify(tables[Math.min(next++, tables.length - 1)]) };
    };
    return { fetch, paths, now: () => clock, advance: (ms: number) => (clock += ms), fail: () => (failing = true) };
  }

  it('dates a table by when its request was sent, and stops routing by it beyond the bound', async () => {
    const fake = fakeAggregator([testTable()]);
    let changes = 0;
    const client = new RoutingTableClient({ fetch: fake.fetch, maxAgeMs: 1000, waitSeconds: 0.3, log: silentLog, now: fake.now, onChange: () => changes++ });
    try {
      expect(client.view()).toBeUndefined();
      await client.refresh();
      expect(fake.paths).toEqual(['/bridge/v1/routing-table']); // the first fetch answers at once
      expect(client.ageMs()).toBe(400); // sent at 0, answered at 400
      expect(client.view()?.fresh).toBe(true);
      expect(client.routing.table.generation).toBe(testTable().generation);
      expect(changes).toBe(1);
      fake.advance(600);
      expect(client.fresh).toBe(true); // exactly at the bound
      fake.advance(1);
      expect(client.view()?.fresh).toBe(false);
      const selector = new LocalRoutingSelector(client);
      expect(selector.select({ method: 'GET', url: '/api/v1/namespaces/a/pods' })).toEqual(upstream('table-stale'));
      await client.refresh();
      expect(client.view()?.fresh).toBe(true);
      expect(selector.select({ method: 'GET', url: '/api/v1/namespaces/a/pods' })).toEqual(local('located'));
      fake.fail();
      fake.advance(2000);
      await client.refresh();
      expect(selector.select({ method: 'GET', url: '/api/v1/namespaces/a/pods' })).toEqual(upstream('table-stale'));
    } finally {
      client.stop();
    }
  });

  it('long-polls with the generation it holds and never goes back to an older generation', async () => {
    const newer = testTable();
    const older = { ...emptyRoutingTable(), generation: 1 };
    const fake = fakeAggregator([newer, older]);
    const client = new RoutingTableClient({ fetch: fake.fetch, maxAgeMs: 1000, waitSeconds: 0.3, log: silentLog, now: fake.now });
    try {
      await client.refresh();
      await client.refresh();
      expect(fake.paths[1]).toBe(`/bridge/v1/routing-table?generation=${newer.generation}&shadow=0&waitSeconds=0`);
      expect(client.routing.table.generation).toBe(newer.generation);
      expect(client.routing.table.shards.secrets?.owner).toBe('destination');
    } finally {
      client.stop();
    }
  });

  it("takes the aggregator's shadow-read plan with the table and asks with its version", async () => {
    const served = { ...testTable(), shadowReads: { version: 3, shards: ['configmaps'] } };
    const paths: string[] = [];
    const client = new RoutingTableClient({
      fetch: async (path) => (paths.push(path), { status: 200, body: JSON.stringify(served) }),
      maxAgeMs: 60_000,
      waitSeconds: 1,
      log: silentLog,
    });
    try {
      await client.refresh();
      await client.refresh();
      expect(paths[1]).toBe(`/bridge/v1/routing-table?generation=${served.generation}&shadow=3&waitSeconds=0`);
      expect([...client.view()!.shadowed!]).toEqual(['configmaps']);
      expect(client.routing.table).not.toHaveProperty('shadowReads');
    } finally {
      client.stop();
    }
  });

  it('refuses a table that does not validate (and keeps what it had)', async () => {
    let answer = JSON.stringify(testTable());
    const client = new RoutingTableClient({
      fetch: async () => ({ status: 200, body: answer }),
      maxAgeMs: 60_000,
      waitSeconds: 1,
      log: silentLog,
    });
    try {
      await client.refresh();
      answer = JSON.stringify({ generation: 99, shards: { secrets: { shard: 'secrets', owner: 'nowhere', epochs: [] } } });
      await client.refresh();
      expect(client.routing.table.generation).toBe(testTable().generation);
    } finally {
      client.stop();
    }
  });
});

describe('LocalRoutingSelector: local watches end when their shard stops being local', () => {
  it('closes the streams of a shard that starts changing owner, and only those', () => {
    const state = { view: view(emptyRoutingTable()) as TableView | undefined };
    const selector = new LocalRoutingSelector({ view: () => state.view, refresh: async () => undefined });
    const closed: string[] = [];
    selector.trackLocalStream('configmaps', 0, () => closed.push('configmaps-1'));
    const unregister = selector.trackLocalStream('configmaps', 0, () => closed.push('configmaps-2'));
    selector.trackLocalStream('statefulsets.apps', 0, () => closed.push('statefulsets'));
    unregister();
    selector.tableChanged();
    expect(closed).toEqual([]);
    state.view = view(beginHandoff(emptyRoutingTable(), 'configmaps', 'destination', NOW));
    selector.tableChanged();
    expect(closed).toEqual(['configmaps-1']);
    expect(selector.localStreams).toBe(1);
    state.view = view(emptyRoutingTable(), false); // stale: nothing stays local
    selector.tableChanged();
    expect(closed).toEqual(['configmaps-1', 'statefulsets']);
    expect(selector.localStreams).toBe(0);
  });

  it('closes a watch opened in an older epoch once the sidecar learns of a move and back at once, and keeps one of the current epoch', () => {
    const state = { view: view(emptyRoutingTable()) as TableView | undefined };
    const selector = new LocalRoutingSelector({ view: () => state.view, refresh: async () => undefined });
    const closed: string[] = [];
    selector.trackLocalStream('configmaps', 0, () => closed.push('epoch-0'));
    // The hand-off to the destination and the one back happened between two of the sidecar's fetches.
    let t = completeHandoff(beginHandoff(emptyRoutingTable(), 'configmaps', 'destination', NOW), 'configmaps', '10', NOW);
    t = completeHandoff(beginHandoff(t, 'configmaps', 'source', NOW), 'configmaps', '20', NOW);
    state.view = view(t);
    selector.trackLocalStream('configmaps', 2, () => closed.push('epoch-2'));
    selector.tableChanged();
    expect(closed).toEqual(['epoch-0']);
    expect(selector.localStreams).toBe(1);
    state.view = view(beginHandoff(t, 'configmaps', 'destination', NOW));
    selector.tableChanged();
    expect(closed).toEqual(['epoch-0', 'epoch-2']);
  });
});

describe('LocalRoutingSelector: decisions remembered per method and path', () => {
  it('decides as chooseUpstream for every query, and anew once the table changes or goes stale', () => {
    const state = { view: view(emptyRoutingTable()) as TableView | undefined };
    const selector = new LocalRoutingSelector({ view: () => state.view, refresh: async () => undefined });
    const urls = ['/api/v1/namespaces/a/configmaps', '/api/v1/namespaces/a/configmaps?watch=true&resourceVersion=7', '/api/v1/namespaces/a/configmaps?limit=5'];
    for (const url of urls) {
      expect(selector.select({ method: 'GET', url })).toEqual(chooseUpstream(parseRequestInfo('GET', url), state.view));
      expect(selector.select({ method: 'GET', url }).target).toBe('local');
    }
    expect(selector.select({ method: 'POST', url: urls[0]! })).toEqual(local('source-owned-shard', { shard: 'configmaps', fenceable: true }));
    state.view = view(testTable());
    expect(selector.select({ method: 'GET', url: '/api/v1/namespaces/a/secrets?watch=1' })).toEqual(upstream('destination-owned', { shard: 'secrets' }));
    state.view = view(completeHandoff(beginHandoff(emptyRoutingTable(), 'configmaps', 'destination', NOW), 'configmaps', '9', NOW));
    for (const url of urls) expect(selector.select({ method: 'GET', url })).toEqual(upstream('destination-owned', { shard: 'configmaps' }));
    state.view = view(emptyRoutingTable(), false);
    expect(selector.select({ method: 'GET', url: urls[0]! })).toEqual(upstream('table-stale'));
  });
});
