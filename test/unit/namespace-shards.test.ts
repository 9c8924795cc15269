import { describe, expect, it } from '@jest/globals';
import { isBridgeError } from '../../lib/errors.js';
import { parseRequestInfo } from '../../lib/routing/request-info.js';
import { namespacesSplit, withNamespaceTypes } from '../../lib/routing/namespace-shards.js';
import {
  abortHandoff,
  beginHandoff,
  completeHandoff,
  emptyRoutingTable,
  MAX_EPOCH_OFFSET,
  nextEpochOffset,
  route,
  shardState,
  validateRoutingTable,
} from '../../lib/routing/routing-table.js';
import { desiredOwner, namespaceShardKey, placement, shardPosition } from '../../lib/routing/shard-hash.js';
import type { RoutingTable } from '../../lib/routing/types.js';

const NOW = new Date('2026-12-07T12:00:00Z');
const CARRIED = ['configmaps', 'secrets', 'leases.coordination.k8s.io'];
const APP = namespaceShardKey('app');

const codeOf = (fn: () => unknown) => {
  try {
    fn();
    return 'none';
  } catch (err) {
    return isBridgeError(err) ? err.code : String(err);
  }
};
const messageOf = (fn: () => unknown) => {
  try {
    fn();
    return '';
  } catch (err) {
    return (err as Error).message;
  }
};

const carrying = (): RoutingTable => withNamespaceTypes(emptyRoutingTable(), CARRIED);
/** `app` moved to the destination (and, with `back`, returned), or held on its way there. */
function appMoved(how: 'held' | 'moved' | 'back'): RoutingTable {
  let table = beginHandoff(carrying(), APP, 'destination', NOW);
  if (how === 'held') return table;
  table = completeHandoff(table, APP, '500', NOW);
  if (how === 'back') table = completeHandoff(beginHandoff(table, APP, 'source', NOW), APP, '900', NOW);
  return table;
}
const routed = (table: RoutingTable, method: string, url: string) => route(parseRequestInfo(method, url), table);

describe('route with namespace shards', () => {
  const moved = appMoved('moved');
  it.each([
    ['GET', '/api/v1/namespaces/app/configmaps/c', 'destination', 'shard-owner', APP],
    ['POST', '/api/v1/namespaces/app/configmaps', 'destination', 'shard-owner', APP],
    ['GET', '/apis/coordination.k8s.io/v1/namespaces/app/leases?watch=true', 'destination', 'shard-owner', APP],
    ['GET', '/api/v1/namespaces/other/configmaps/c', 'source', 'shard-owner', namespaceShardKey('other')],
    // Not carried: routed by its type shard as before.
    ['GET', '/api/v1/namespaces/app/services/s', 'source', 'shard-owner', 'services'],
    ['GET', '/api/v1/namespaces/app/pods', 'source', 'located', undefined],
    ['GET', '/api/v1/namespaces/kube-system/configmaps/c', 'source', 'system-namespace', undefined],
    // Cluster-wide reads of a carried type span both clusters now.
    ['GET', '/api/v1/configmaps', 'merged', 'namespaces-split', 'configmaps'],
    ['GET', '/api/v1/secrets?watch=true', 'merged', 'namespaces-split', 'secrets'],
    ['GET', '/api/v1/services', 'source', 'shard-owner', 'services'],
    // The Namespace object itself is not carried.
    ['GET', '/api/v1/namespaces/app', 'source', 'shard-owner', 'namespaces'],
  ])('%s %s -> %s (%s, %s)', (method, url, target, reason, shard) => {
    expect(routed(moved, method, url)).toEqual({ target, reason, ...(shard ? { shard } : {}) });
  });

  it('serves a namespace without a shard entry from the source, epoch 0, and cluster-wide reads from the source while nothing moved', () => {
    const table = carrying();
    expect(routed(table, 'GET', '/api/v1/namespaces/app/configmaps')).toEqual({ target: 'source', reason: 'shard-owner', shard: APP });
    expect(routed(table, 'GET', '/api/v1/configmaps')).toEqual({ target: 'source', reason: 'shard-owner', shard: 'configmaps' });
    expect(shardState(table, APP).epochs).toHaveLength(1);
  });

  it('holds writes, and only writes, of the namespace changing owner; cluster-wide reads merge from the hold on', () => {
    const held = appMoved('held');
    expect(routed(held, 'PUT', '/api/v1/namespaces/app/secrets/s')).toMatchObject({ target: 'hold', shard: APP });
    expect(routed(held, 'DELETE', '/api/v1/namespaces/app/configmaps')).toMatchObject({ target: 'hold', shard: APP });
    expect(routed(held, 'GET', '/api/v1/namespaces/app/configmaps/c')).toMatchObject({ target: 'source', shard: APP });
    expect(routed(held, 'POST', '/api/v1/namespaces/other/configmaps')).toMatchObject({ target: 'source' });
    expect(routed(held, 'GET', '/api/v1/configmaps')).toMatchObject({ target: 'merged' });
  });

  it('stays merged once merged RVs were presented, even with every namespace back at the source', () => {
    const back = appMoved('back');
    expect(routed(back, 'GET', '/api/v1/namespaces/app/configmaps')).toMatchObject({ target: 'source', shard: APP });
    expect(namespacesSplit(back)).toBe(false);
    expect(routed(back, 'GET', '/api/v1/configmaps')).toMatchObject({ target: 'source' });
    const presented = { ...back, merged: { epochs: [{ epoch: 0, offset: '0', source: '1', destination: '1', startedAt: NOW.toISOString() }] } };
    expect(routed(presented, 'GET', '/api/v1/configmaps')).toMatchObject({ target: 'merged', reason: 'namespaces-split' });
  });

  it('routes a write across namespaces of a carried type as merged (the aggregator refuses it there), else to the source', () => {
    expect(routed(moved, 'DELETE', '/api/v1/configmaps')).toMatchObject({ target: 'merged' });
    expect(routed(carrying(), 'DELETE', '/api/v1/configmaps')).toMatchObject({ target: 'source' });
  });
});

describe('namespace shard hand-offs', () => {
  it('moves and returns a namespace shard with epochs and offsets as a type shard', () => {
    const back = appMoved('back');
    const state = shardState(back, APP);
    expect(state.owner).toBe('source');
    expect(state.epochs.map((e) => [e.backend, e.offset])).toEqual([
      ['source', '0'],
      ['destination', '1000500'],
      ['source', '2001400'],
    ]);
    expect(abortHandoff(appMoved('held'), APP).shards[APP]!.handoff).toBeUndefined();
  });

  it.each([
    ['a system namespace', namespaceShardKey('kube-system'), carrying(), /system namespace/],
    ["the bridge's own namespace", namespaceShardKey('cluster-bridge-system'), carrying(), /system namespace/],
    ['a malformed name', namespaceShardKey('App_1'), carrying(), /not a namespace name/],
    ['an empty name', namespaceShardKey(''), carrying(), /not a namespace name/],
    ['a table without carried types', APP, emptyRoutingTable(), /no carried types/],
  ])('refuses %s', (_what, key, table, message) => {
    expect(codeOf(() => beginHandoff(table, key, 'destination', NOW))).toBe('BRIDGE_ERR_ROUTING');
    expect(messageOf(() => beginHandoff(table, key, 'destination', NOW))).toMatch(message);
  });

  it('refuses a carried type as a type shard, and a namespace shard once a carried type moved as a type shard', () => {
    expect(messageOf(() => beginHandoff(carrying(), 'configmaps', 'destination', NOW))).toMatch(/carried by namespace shards/);
    expect(codeOf(() => beginHandoff(carrying(), 'services', 'destination', NOW))).toBe('none');
    const typeMoved = completeHandoff(beginHandoff(emptyRoutingTable(), 'secrets', 'destination', NOW), 'secrets', '10', NOW);
    const both = { ...typeMoved, namespaceTypes: CARRIED };
    expect(messageOf(() => beginHandoff(both, APP, 'destination', NOW))).toMatch(/secrets moved as type shard/);
    expect(messageOf(() => withNamespaceTypes(typeMoved, CARRIED))).toMatch(/moved as type shards/);
  });

  it('fixes the carried types once a namespace shard exists', () => {
    expect(withNamespaceTypes(carrying(), [...CARRIED].reverse())).toEqual(carrying());
    expect(codeOf(() => withNamespaceTypes(appMoved('moved'), ['configmaps']))).toBe('BRIDGE_ERR_ROUTING');
    expect(withNamespaceTypes(carrying(), ['configmaps']).namespaceTypes).toEqual(['configmaps']);
  });

  it('keeps per-shard offsets below 2^61, so presented per-shard RVs stay below the merged range at 2^62', () => {
    const current = { epoch: 1, backend: 'destination' as const, offset: '0', startedAt: '' };
    expect(nextEpochOffset(current, (MAX_EPOCH_OFFSET - 1_000_000n).toString())).toBe(MAX_EPOCH_OFFSET);
    expect(codeOf(() => nextEpochOffset(current, (MAX_EPOCH_OFFSET - 999_999n).toString()))).toBe('BRIDGE_ERR_ROUTING');
  });
});

describe('validateRoutingTable with namespace shards', () => {
  const roundTrip = (table: RoutingTable) => JSON.parse(JSON.stringify(table)) as RoutingTable & Record<string, unknown>;
  it('accepts tables with namespace shards and merged epochs', () => {
    expect(validateRoutingTable(roundTrip(appMoved('back')))).toBeTruthy();
  });

  it.each([
    [
      'a carried type that moved as a type shard',
      (t: RoutingTable) => ({ ...t, namespaceTypes: [...CARRIED, 'services'], shards: { ...t.shards, services: movedServices() } }),
      'shards["services"]',
    ],
    [
      'a system namespace shard',
      (t: RoutingTable) => ({ ...t, shards: { ...t.shards, 'namespace/kube-system': { ...t.shards[APP]!, shard: 'namespace/kube-system' } } }),
      'shards["namespace/kube-system"]',
    ],
    [
      'a bad namespace name',
      (t: RoutingTable) => ({ ...t, shards: { ...t.shards, 'namespace/a.b': { ...t.shards[APP]!, shard: 'namespace/a.b' } } }),
      'shards["namespace/a.b"]',
    ],
    ['a namespace shard without carried types', (t: RoutingTable) => ({ ...t, namespaceTypes: undefined }), `shards["${APP}"]`],
    ['carried types that are not type keys', (t: RoutingTable) => ({ ...t, namespaceTypes: ['namespace/x'] }), 'namespaceTypes'],
    ['merged epochs that are not a list', (t: RoutingTable) => ({ ...t, merged: { epochs: 'x' } }), 'merged.epochs'],
  ])('refuses %s, naming %s', (_what, mutate, field) => {
    const bad = mutate(roundTrip(appMoved('moved')) as RoutingTable) as unknown;
    expect(messageOf(() => validateRoutingTable(bad))).toContain(field);
  });
});

function movedServices() {
  return completeHandoff(beginHandoff(emptyRoutingTable(), 'services', 'destination', NOW), 'services', '10', NOW).shards.services!;
}

describe('namespace shard placement', () => {
  it('places a namespace shard at the hash of its namespace name', () => {
    expect(placement(APP)).toBe(shardPosition('app'));
    expect(placement('configmaps')).toBe(shardPosition('configmaps'));
  });

  it('moves a namespace shard iff the stage selects it and hash(namespace) < F', () => {
    const p = shardPosition('app');
    const stage = (fraction: number, shards: string[] | ['*'] = [APP]) => ({ name: 's', shards, fraction });
    expect(desiredOwner(APP, stage(p))).toBe('source');
    expect(desiredOwner(APP, stage(Math.min(1, p + 1e-9)))).toBe('destination');
    expect(desiredOwner(APP, stage(1, [namespaceShardKey('other')]))).toBe('source');
    expect(desiredOwner(APP, stage(1, ['*']))).toBe('destination');
  });
});
