// A namespace shard's hand-off (aggregator/handoff/handoff.ts) against fake clusters and a fake
// synchronizer: what it checks before holding, what it asks the synchronizer, what it fences, which
// watches it closes, and the completing table write (new epoch and a merged epoch at both clusters'
// revisions read after the catch-up). The lab test is test/e2e/namespace-shards.test.ts.
import { describe, expect, it } from '@jest/globals';
import { ShardHandoff, type HandoffDeps } from '../../aggregator/handoff/handoff.js';
import { ShardActivity } from '../../aggregator/handoff/shard-activity.js';
import { ShardRefused } from '../../lib/routing/shard-validation.js';
import type { CatchUpQuery } from '../../lib/mirror/catchup.js';
import { RoutingState } from '../../lib/routing/routing-state.js';
import { emptyRoutingTable, shardState } from '../../lib/routing/routing-table.js';
import type { RoutingTable } from '../../lib/routing/types.js';
import { appendMergedEpoch } from '../../lib/routing/merged-rv.js';
import { kubeApiError } from '../../lib/kube/rest-client.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';

const CARRIED = ['configmaps', 'secrets'];

/** An API server serving the core types, the namespaces `namespaces`, and revision `revision()` for a quorum list. */
function fakeCluster(side: string, namespaces: string[], revision: () => string) {
  const answer = async (_method: string, path: string) => {
    if (path === '/api/v1') return { status: 200, body: { resources: CARRIED.map((name) => ({ name })) } };
    if (path.startsWith('/api/v1/namespaces?limit=1')) return { status: 200, body: { metadata: { resourceVersion: revision() } } };
    const ns = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(path)?.[1];
    if (ns) return namespaces.includes(ns) ? { status: 200, body: {} } : { status: 404, body: {} };
    return { status: 404, body: {} };
  };
  return { side, rest: { request: answer, expect: answer } };
}

function setup(options: { namespaces?: string[]; mirrored?: string[]; store?: Partial<HandoffDeps['store']> } = {}) {
  const routing = new RoutingState();
  routing.update(emptyRoutingTable(), '1');
  const persisted: RoutingTable[] = [];
  const asked: CatchUpQuery[] = [];
  const fenced: RoutingTable[] = [];
  const activity = new ShardActivity();
  let sourceRevision = 100;
  let destinationRevision = 40;
  const mirrored = options.mirrored ?? [...CARRIED, 'namespace/app'];
  const deps = {
    store: {
      replace: async (table: RoutingTable) => {
        persisted.push(table);
        return { version: String(persisted.length + 1) };
      },
      ...options.store,
    },
    routing,
    activity,
    clusters: {
      source: fakeCluster('source', options.namespaces ?? ['app'], () => String(sourceRevision)),
      destination: fakeCluster('destination', [], () => String(destinationRevision)),
    },
    catchUp: {
      status: async (query: CatchUpQuery) => {
        asked.push(query);
        if (!mirrored.includes(query.shard)) throw new Error(`shard ${query.shard} is not mirrored`);
        return { caughtUp: true };
      },
      waitFor: async (query: CatchUpQuery) => {
        asked.push(query);
        // The synchronizer's catch-up writes on the destination; both clusters move on meanwhile.
        sourceRevision += 5;
        destinationRevision += 7;
        return { caughtUp: true };
      },
    },
    metrics: { handoff: () => undefined },
    log: silentLog,
    catchUpTimeoutMs: 1000,
    namespaceTypes: CARRIED,
    fence: async (table: RoutingTable) => void fenced.push(table),
  } as unknown as HandoffDeps;
  return { handoff: new ShardHandoff(deps), routing, persisted, asked, fenced, activity };
}

describe('a namespace shard hand-off', () => {
  it('holds, fences, catches up the namespace, and completes with a new epoch and a merged epoch at both revisions after the catch-up', async () => {
    const { handoff, routing, persisted, asked, fenced, activity } = setup();
    const closed: string[] = [];
    for (const key of ['namespace/app', 'configmaps', 'namespace/other', 'services']) activity.addWatch(key, () => closed.push(key));
    const { epoch } = await handoff.changeOwner('namespace/app', 'destination', 'test');
    expect(epoch).toMatchObject({ epoch: 1, backend: 'destination', offset: String(100n + 1_000_000n) });
    // The hold carries the types, so the fence and every replica know what the namespace shard holds.
    expect(persisted[0]!.namespaceTypes).toEqual(CARRIED);
    expect(persisted[0]!.shards['namespace/app']!.handoff?.to).toBe('destination');
    expect(fenced[0]!.shards['namespace/app']!.handoff?.to).toBe('destination');
    expect(asked.filter((q) => q.shard === 'namespace/app' && q.rv === '100')).toEqual([{ shard: 'namespace/app', from: 'source', rv: '100' }]);
    expect(asked.map((q) => q.shard)).toEqual(expect.arrayContaining(CARRIED));
    const done = persisted[persisted.length - 1]!;
    expect(done.merged?.epochs).toEqual([expect.objectContaining({ epoch: 0, source: '105', destination: '47' })]);
    expect(shardState(routing.table, 'namespace/app').owner).toBe('destination');
    expect(closed.sort()).toEqual(['configmaps', 'namespace/app']);
  });

  it('refuses an unknown namespace before holding anything', async () => {
    const { handoff, persisted } = setup({ namespaces: ['shop'] });
    await expect(handoff.changeOwner('namespace/app', 'destination', 'test')).rejects.toThrow(/namespace app does not exist on the source/);
    expect(persisted).toEqual([]);
  });

  it('refuses a namespace shard whose carried type the synchronizer does not mirror, before holding anything', async () => {
    const { handoff, persisted } = setup({ mirrored: ['configmaps', 'namespace/app'] });
    await expect(handoff.changeOwner('namespace/app', 'destination', 'test')).rejects.toThrow(/does not mirror secrets/);
    expect(persisted).toEqual([]);
  });

  it('appends a second merged epoch when the namespace comes back, above the first', async () => {
    const { handoff, routing, asked } = setup();
    await handoff.changeOwner('namespace/app', 'destination', 'test');
    // Before the first hold the synchronizer mirrors the carried types whole; from then on per namespace.
    expect(asked.filter((q) => q.rv === '0').map((q) => q.shard)).toEqual(CARRIED);
    asked.length = 0;
    await handoff.changeOwner('namespace/app', 'source', 'test');
    expect(asked.filter((q) => q.rv === '0').map((q) => q.shard)).toEqual(['namespace/app']);
    const epochs = routing.table.merged!.epochs;
    expect(epochs).toHaveLength(2);
    expect(BigInt(epochs[1]!.offset)).toBeGreaterThan(BigInt(epochs[0]!.offset));
    expect(shardState(routing.table, 'namespace/app').epochs.map((e) => e.backend)).toEqual(['source', 'destination', 'source']);
  });
});

describe('namespace shards a hand-off can never move', () => {
  it.each([
    ['a system namespace', 'namespace/kube-system', /system namespace/],
    ['a malformed name', 'namespace/Not_A_Name', /not a namespace name/],
  ])('refuses %s as ShardRefused (asked again rarely, not every 3 s), before holding anything', async (_what, shard, message) => {
    const { handoff, persisted } = setup({ namespaces: ['kube-system', 'Not_A_Name'] });
    const refused = await handoff.changeOwner(shard, 'destination', 'test').catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ShardRefused);
    expect((refused as Error).message).toMatch(message);
    expect(persisted).toEqual([]);
  });

  it('completes when a merged read persisted the first merged epoch during the hold (its compare-and-swap lost once)', async () => {
    const versions: string[] = [];
    let stored: { table: RoutingTable; version: string } | undefined;
    const { handoff, routing, persisted } = setup({
      store: {
        replace: async (table: RoutingTable, version: string) => {
          versions.push(version);
          // The completing write finds the table changed: a merged read rolled the first merged epoch.
          if (table.shards['namespace/app']?.owner === 'destination' && !stored) {
            stored = { table: appendMergedEpoch(persisted[0]!, '101', '41', new Date()), version: '50' };
            throw kubeApiError('PUT', '/api/v1/namespaces/cluster-bridge-system/configmaps/t', {
              status: 409,
              body: { message: 'the object has been modified' },
            });
          }
          persisted.push(table);
          return { version: String(persisted.length + 1) };
        },
        load: async () => stored!,
      },
    });
    await handoff.changeOwner('namespace/app', 'destination', 'test');
    expect(shardState(routing.table, 'namespace/app').owner).toBe('destination');
    // The retry was made from the stored table: its merged epoch kept, the hand-off's appended after it.
    expect(routing.table.merged!.epochs.map((e) => e.source)).toEqual(['101', '105']);
    expect(versions[versions.length - 1]).toBe('50');
  });
});
