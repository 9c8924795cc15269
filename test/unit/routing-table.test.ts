import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { isBridgeError } from '../../lib/errors.js';
import { repoRoot } from '../../lib/process/paths.js';
import { parseRequestInfo } from '../../lib/routing/request-info.js';
import { classify } from '../../lib/routing/resource-classes.js';
import {
  abortHandoff,
  beginHandoff,
  completeHandoff,
  emptyRoutingTable,
  HANDOFF_RV_MARGIN,
  lastHandoffRevision,
  route,
  shardState,
  validateRoutingTable,
} from '../../lib/routing/routing-table.js';
import { desiredOwner, parseShardKey, shardKey, shardPosition } from '../../lib/routing/shard-hash.js';
import type { RoutingTable } from '../../lib/routing/types.js';

const NOW = new Date('2026-11-22T12:00:00Z');

function tableWith(owner: 'source' | 'destination', shard = 'configmaps', handoff = false): RoutingTable {
  let table = beginHandoff(emptyRoutingTable(), shard, 'destination', NOW);
  table = completeHandoff(table, shard, '500', NOW);
  if (owner === 'source') table = completeHandoff(beginHandoff(table, shard, 'source', NOW), shard, '900', NOW);
  if (handoff) table = beginHandoff(table, shard, owner === 'source' ? 'destination' : 'source', NOW);
  return table;
}

describe('route', () => {
  const moved = tableWith('destination');
  it.each([
    ['GET', '/version', 'source', 'non-resource-source'],
    ['GET', '/healthz', 'source', 'non-resource-source'],
    ['GET', '/apis', 'source', 'discovery-source'],
    ['GET', '/api/v1', 'source', 'discovery-source'],
    ['GET', '/openapi/v3/apis/apps/v1', 'source', 'discovery-source'],
    ['GET', '/api/v1/namespaces/kube-system/configmaps/x', 'source', 'system-namespace'],
    ['GET', '/api/v1/namespaces/cluster-bridge-system/configmaps', 'source', 'system-namespace'],
    ['DELETE', '/api/v1/namespaces/kube-public', 'source', 'system-namespace'],
    ['GET', '/api/v1/namespaces/app/pods', 'source', 'located'],
    ['POST', '/api/v1/namespaces/app/pods/p/exec', 'source', 'located'],
    ['GET', '/api/v1/nodes', 'source', 'located'],
    ['GET', '/apis/apps/v1/namespaces/app/replicasets', 'source', 'located'],
    ['POST', '/api/v1/namespaces/app/serviceaccounts/default/token', 'source', 'located'],
    ['GET', '/api/v1/namespaces/app/services/s/proxy/x', 'source', 'located'],
    ['GET', '/apis/apiregistration.k8s.io/v1/apiservices', 'source', 'system-resource'],
    ['POST', '/apis/authentication.k8s.io/v1/tokenreviews', 'source', 'system-resource'],
    ['GET', '/api/v1/namespaces/app/configmaps/c', 'destination', 'shard-owner'],
    ['GET', '/api/v1/configmaps?watch=true', 'destination', 'shard-owner'],
    ['POST', '/api/v1/namespaces/app/configmaps', 'destination', 'shard-owner'],
    ['GET', '/api/v1/namespaces/app/secrets/s', 'source', 'shard-owner'],
    ['GET', '/apis/example.com/v1/namespaces/app/widgets', 'source', 'shard-owner'],
  ])('%s %s -> %s (%s)', (method, url, target, reason) => {
    expect(route(parseRequestInfo(method, url), moved)).toMatchObject({ target, reason });
  });

  it('names the shard of movable requests, and none for others', () => {
    expect(route(parseRequestInfo('GET', '/apis/apps/v1/namespaces/a/deployments/d/scale'), moved).shard).toBe('deployments.apps');
    expect(route(parseRequestInfo('GET', '/api/v1/namespaces/a/pods'), moved).shard).toBeUndefined();
  });

  it('holds writes, and only writes, of a shard changing owner', () => {
    const changing = tableWith('destination', 'configmaps', true);
    for (const [method, url] of [
      ['POST', '/api/v1/namespaces/a/configmaps'],
      ['PUT', '/api/v1/namespaces/a/configmaps/c'],
      ['PATCH', '/api/v1/namespaces/a/configmaps/c'],
      ['DELETE', '/api/v1/namespaces/a/configmaps/c'],
      ['DELETE', '/api/v1/namespaces/a/configmaps'],
    ] as const) {
      expect(route(parseRequestInfo(method, url), changing)).toMatchObject({ target: 'hold', reason: 'shard-handoff-hold' });
    }
    expect(route(parseRequestInfo('GET', '/api/v1/namespaces/a/configmaps/c'), changing)).toMatchObject({ target: 'destination' });
    expect(route(parseRequestInfo('GET', '/api/v1/namespaces/a/secrets'), changing)).toMatchObject({ target: 'source' });
  });

  it("applies a plan's class overrides", () => {
    const table = { ...tableWith('destination'), classOverrides: { configmaps: 'located' as const } };
    expect(route(parseRequestInfo('GET', '/api/v1/namespaces/a/configmaps'), table)).toMatchObject({ target: 'source', reason: 'located' });
  });
});

describe('classify', () => {
  it.each([
    [{ group: '', resource: 'configmaps', namespace: 'a' }, 'movable'],
    [{ group: 'coordination.k8s.io', resource: 'leases', namespace: 'a' }, 'movable'],
    [{ group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-node-lease' }, 'system'],
    [{ group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-system' }, 'system'],
    [{ group: '', resource: 'pods', namespace: 'a' }, 'located'],
    [{ group: 'events.k8s.io', resource: 'events', namespace: 'a' }, 'located'],
    [{ group: 'discovery.k8s.io', resource: 'endpointslices', namespace: 'a' }, 'located'],
    [{ group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', namespace: '' }, 'movable'],
    [{ group: 'cluster-bridge.io', resource: 'bridgerollouts', namespace: '' }, 'system'],
    [{ group: 'example.com', resource: 'widgets', namespace: 'a' }, 'movable'],
    [{ group: '', resource: 'services', namespace: 'a', subresource: 'proxy' }, 'located'],
    [{ group: '', resource: 'services', namespace: 'a', subresource: 'status' }, 'movable'],
    [{ group: 'apps', resource: 'deployments', namespace: 'a', subresource: 'scale' }, 'movable'],
    [{ group: 'example.com', resource: 'widgets', namespace: 'a', subresource: 'status' }, 'movable'],
    // No movable type serves another subresource (`configmaps/../secrets` reads as one): the source answers it (docs/adr/0022).
    [{ group: '', resource: 'configmaps', namespace: 'a', subresource: 'secrets' }, 'located'],
    [{ group: '', resource: 'pods', namespace: 'a', subresource: 'exec' }, 'located'],
    [{ group: 'cluster-bridge.io', resource: 'bridgerollouts', namespace: '', subresource: 'status' }, 'system'],
  ])('%j -> %s', (input, cls) => {
    expect(classify(input)).toBe(cls);
  });
});

describe('shard hash', () => {
  it('names shards as kubectl does and parses them back', () => {
    expect(shardKey('', 'configmaps')).toBe('configmaps');
    expect(shardKey('apps', 'deployments')).toBe('deployments.apps');
    expect(parseShardKey('widgets.example.com')).toEqual({ group: 'example.com', resource: 'widgets' });
    expect(parseShardKey('secrets')).toEqual({ group: '', resource: 'secrets' });
  });

  it('places shards in [0, 1) and spreads them', () => {
    const keys = Array.from({ length: 2000 }, (_, i) => `r${i}.example.com`);
    const positions = keys.map(shardPosition);
    expect(positions.every((p) => p >= 0 && p < 1)).toBe(true);
    const belowHalf = positions.filter((p) => p < 0.5).length;
    expect(belowHalf).toBeGreaterThan(850);
    expect(belowHalf).toBeLessThan(1150);
  });

  it('is the documented hash: first 52 bits of SHA-256 over 2^52', () => {
    // Computed independently with OpenSSL, not with the code under test.
    const hex = execFileSync('openssl', ['dgst', '-sha256', '-hex'], { input: 'configmaps' }).toString().trim().split(/\s+/).pop()!;
    expect(shardPosition('configmaps')).toBe(parseInt(hex.slice(0, 13), 16) / 2 ** 52);
  });

  it('decides owners by hash < F, only for selected shards', () => {
    const key = 'configmaps';
    const p = shardPosition(key);
    expect(desiredOwner(key, { name: 's', shards: ['*'], fraction: 1 })).toBe('destination');
    expect(desiredOwner(key, { name: 's', shards: ['*'], fraction: 0 })).toBe('source');
    expect(desiredOwner(key, { name: 's', shards: ['*'], fraction: p })).toBe('source');
    expect(desiredOwner(key, { name: 's', shards: ['*'], fraction: Math.min(1, p + 1e-9) })).toBe('destination');
    expect(desiredOwner(key, { name: 's', shards: ['secrets'], fraction: 1 })).toBe('source');
    expect(desiredOwner(key, undefined)).toBe('source');
  });

  it('two separate processes decide identically for every shard at every F', () => {
    const keys = [
      'configmaps',
      'secrets',
      'services',
      'deployments.apps',
      'leases.coordination.k8s.io',
      'widgets.example.com',
      ...Array.from({ length: 50 }, (_, i) => `t${i}.example.com`),
    ];
    const fractions = [0, 0.01, 0.05, 0.25, 0.5, 1];
    const script = `import { desiredOwner } from ${JSON.stringify(join(repoRoot(), 'dist/lib/routing/shard-hash.js'))};
      const keys = ${JSON.stringify(keys)}; const fs = ${JSON.stringify(fractions)};
      process.stdout.write(JSON.stringify(fs.map((f) => keys.map((k) => desiredOwner(k, { name: 's', shards: ['*'], fraction: f })))));`;
    const run = () => execFileSync(process.execPath, ['--input-type=module', '-e', script]).toString();
    const first = run();
    expect(run()).toBe(first);
    expect(JSON.parse(first)).toEqual(fractions.map((f) => keys.map((k) => desiredOwner(k, { name: 's', shards: ['*'], fraction: f }))));
  });
});

describe('owner changes', () => {
  it('starts each epoch above every RV the previous one can have presented', () => {
    let table = beginHandoff(emptyRoutingTable(), 'configmaps', 'destination', NOW);
    expect(shardState(table, 'configmaps').owner).toBe('source');
    table = completeHandoff(table, 'configmaps', '12345', NOW);
    const moved = shardState(table, 'configmaps');
    expect(moved.owner).toBe('destination');
    expect(moved.handoff).toBeUndefined();
    expect(moved.epochs.map((e) => [e.epoch, e.backend, e.offset])).toEqual([
      [0, 'source', '0'],
      [1, 'destination', (12345n + HANDOFF_RV_MARGIN).toString()],
    ]);
    table = completeHandoff(beginHandoff(table, 'configmaps', 'source', NOW), 'configmaps', '77', NOW);
    expect(shardState(table, 'configmaps').epochs[2]).toMatchObject({ backend: 'source', offset: (12345n + 77n + 2n * HANDOFF_RV_MARGIN).toString() });
    expect(table.generation).toBe(4);
    expect(validateRoutingTable(JSON.parse(JSON.stringify(table)))).toEqual(table);
  });

  it("reads back the old owner's revision at the last hand-off from the epochs", () => {
    let table = emptyRoutingTable();
    expect(lastHandoffRevision(shardState(table, 'configmaps'))).toBeUndefined();
    table = completeHandoff(beginHandoff(table, 'configmaps', 'destination', NOW), 'configmaps', '12345', NOW);
    expect(lastHandoffRevision(shardState(table, 'configmaps'))).toEqual({ from: 'source', rv: 12345n });
    table = completeHandoff(beginHandoff(table, 'configmaps', 'source', NOW), 'configmaps', '77', NOW);
    expect(lastHandoffRevision(shardState(table, 'configmaps'))).toEqual({ from: 'destination', rv: 77n });
  });

  it('refuses a second hand-off, a hand-off to the current owner, and a non-decimal RV', () => {
    const changing = beginHandoff(emptyRoutingTable(), 'configmaps', 'destination', NOW);
    const codeOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return isBridgeError(err) ? err.code : String(err);
      }
      return 'no error';
    };
    expect(codeOf(() => beginHandoff(changing, 'configmaps', 'destination', NOW))).toBe('BRIDGE_ERR_ROUTING');
    expect(codeOf(() => beginHandoff(emptyRoutingTable(), 'configmaps', 'source', NOW))).toBe('BRIDGE_ERR_ROUTING');
    expect(codeOf(() => completeHandoff(changing, 'configmaps', '12a', NOW))).toBe('BRIDGE_ERR_ROUTING');
    expect(codeOf(() => completeHandoff(emptyRoutingTable(), 'configmaps', '1', NOW))).toBe('BRIDGE_ERR_ROUTING');
    expect(codeOf(() => completeHandoff(changing, 'configmaps', (2n ** 62n).toString(), NOW))).toBe('BRIDGE_ERR_ROUTING');
  });

  it('keeps per-shard offsets below 2^61, so per-shard RVs stay below the merged range (2^62, docs/adr/0025)', () => {
    const changing = beginHandoff(emptyRoutingTable(), 'configmaps', 'destination', NOW);
    // The old bound was 2^62 - 1; 2^61 itself is now refused, 2^61 - 1 is the last offset allowed.
    const last = completeHandoff(changing, 'configmaps', (2n ** 61n - 1n - HANDOFF_RV_MARGIN).toString(), NOW);
    expect(shardState(last, 'configmaps').epochs[1]!.offset).toBe((2n ** 61n - 1n).toString());
    expect(() => validateRoutingTable(JSON.parse(JSON.stringify(last)))).not.toThrow();
    expect(() => completeHandoff(changing, 'configmaps', (2n ** 61n - HANDOFF_RV_MARGIN).toString(), NOW)).toThrow(/below 2\^62, where merged ones begin/);
    const tooFar = JSON.parse(JSON.stringify(last)) as RoutingTable;
    tooFar.shards.configmaps!.epochs[1]!.offset = (2n ** 61n).toString();
    expect(() => validateRoutingTable(tooFar)).toThrow(/offset: must be below 2\^61/);
  });

  it('aborting releases writes and keeps the owner', () => {
    const aborted = abortHandoff(beginHandoff(emptyRoutingTable(), 'secrets', 'destination', NOW), 'secrets');
    expect(shardState(aborted, 'secrets')).toMatchObject({ owner: 'source', epochs: [{ epoch: 0 }] });
    expect(shardState(aborted, 'secrets').handoff).toBeUndefined();
    expect(route(parseRequestInfo('POST', '/api/v1/namespaces/a/secrets'), aborted).target).toBe('source');
  });
});

describe('validateRoutingTable', () => {
  const good = tableWith('destination');
  // A loose shape on purpose: each case breaks one field.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const mutate = (fn: (t: Record<string, any>) => void) => {
    const copy = JSON.parse(JSON.stringify(good));
    fn(copy);
    return copy;
  };
  it.each([
    ['not an object', () => 'x', '(root)'],
    ['negative generation', () => mutate((t) => (t.generation = -1)), 'generation'],
    ['shard name mismatch', () => mutate((t) => (t.shards.configmaps.shard = 'secrets')), 'shards["configmaps"].shard'],
    ['unknown owner', () => mutate((t) => (t.shards.configmaps.owner = 'elsewhere')), 'shards["configmaps"].owner'],
    ['owner not the last epoch', () => mutate((t) => (t.shards.configmaps.owner = 'source')), 'shards["configmaps"].owner'],
    ['offsets not increasing', () => mutate((t) => (t.shards.configmaps.epochs[1].offset = '0')), 'shards["configmaps"].epochs[1].offset'],
    ['offset not decimal', () => mutate((t) => (t.shards.configmaps.epochs[1].offset = '1e9')), 'shards["configmaps"].epochs[1].offset'],
    ['offset above 2^63', () => mutate((t) => (t.shards.configmaps.epochs[1].offset = (2n ** 63n).toString())), 'shards["configmaps"].epochs[1].offset'],
    ['epoch 0 not the source', () => mutate((t) => (t.shards.configmaps.epochs[0].backend = 'destination')), 'shards["configmaps"].epochs[0]'],
    ['no epochs', () => mutate((t) => (t.shards.configmaps.epochs = [])), 'shards["configmaps"].epochs'],
    ['hand-off to the owner', () => mutate((t) => (t.shards.configmaps.handoff = { to: 'destination', startedAt: '' })), 'shards["configmaps"].handoff.to'],
    ['unknown class', () => mutate((t) => (t.classOverrides = { configmaps: 'wandering' })), 'classOverrides["configmaps"]'],
  ])('%s names %s', (_name, make, field) => {
    expect(() => validateRoutingTable(make())).toThrow(`routing table: ${field}:`);
  });
});
