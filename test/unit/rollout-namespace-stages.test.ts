// Plans that move namespace shards (docs/adr/0026): the stage format's selections resolved against a
// (fake) source, the plan's shards, and the desired owners each stage gives them.
import { describe, expect, it } from '@jest/globals';
import { planShards, resolveStageNamespaces, selectedNamespaces } from '../../aggregator/rollout/namespace-selection.js';
import { rolloutStep } from '../../aggregator/rollout/rollout-step.js';
import type { BridgeRollout, RolloutStageSpec } from '../../aggregator/rollout/rollout-types.js';
import { emptyRoutingTable } from '../../lib/routing/routing-table.js';
import { namespaceShardKey, shardPosition } from '../../lib/routing/shard-hash.js';

const NAMESPACES: Record<string, Record<string, string>> = {
  'team-a': { team: 'a' },
  'team-b': { team: 'b' },
  shop: { team: 'a' },
  default: {},
  'kube-system': { team: 'a' },
  'cluster-bridge-system': {},
};

/** A source that answers GET /api/v1/namespaces[?labelSelector=team=X] from NAMESPACES, and records what it was asked. */
function fakeSource() {
  const asked: string[] = [];
  return {
    asked,
    async expect<T>(_method: string, path: string): Promise<{ status: number; body: T }> {
      asked.push(path);
      const selector = new URL(path, 'https://x').searchParams.get('labelSelector');
      const [key, value] = selector ? selector.split('=') : [];
      const items = Object.entries(NAMESPACES)
        .filter(([, labels]) => !key || labels[key!] === value)
        .map(([name]) => ({ metadata: { name } }));
      return { status: 200, body: { items } as T };
    },
  };
}

describe('namespace selections', () => {
  it('takes names as given, without system namespaces or malformed names, and lists nothing for them', async () => {
    const source = fakeSource();
    expect(await selectedNamespaces(source, { names: ['shop', 'kube-system', 'Bad_Name', 'shop', 'team-a'] })).toEqual(['shop', 'team-a']);
    expect(source.asked).toEqual([]);
  });

  it('asks the source to evaluate a label selector', async () => {
    const source = fakeSource();
    expect(await selectedNamespaces(source, { selector: 'team=a' })).toEqual(['shop', 'team-a']);
    expect(source.asked).toEqual(['/api/v1/namespaces?labelSelector=team%3Da']);
  });

  it('selects every application namespace for all', async () => {
    expect(await selectedNamespaces(fakeSource(), { all: true })).toEqual(['default', 'shop', 'team-a', 'team-b']);
  });

  it('resolves each stage once per distinct selection', async () => {
    const source = fakeSource();
    const stages: RolloutStageSpec[] = [
      { name: 'one', namespaces: { all: true }, fraction: 0.1 },
      { name: 'types', shards: ['services'], fraction: 0.5 },
      { name: 'all', namespaces: { all: true }, fraction: 1 },
    ];
    const resolved = await resolveStageNamespaces(source, plan(stages));
    expect(resolved[0]).toEqual(['default', 'shop', 'team-a', 'team-b'].map(namespaceShardKey));
    expect(resolved[1]).toEqual([]);
    expect(resolved[2]).toEqual(resolved[0]);
    expect(source.asked).toHaveLength(1);
  });
});

function plan(stages: RolloutStageSpec[], shards?: string[]): BridgeRollout {
  return {
    apiVersion: 'cluster-bridge.io/v1alpha1',
    kind: 'BridgeRollout',
    metadata: { name: 'r', namespace: 'cluster-bridge-system', generation: 1 },
    spec: { stages, soakSeconds: 0, ...(shards ? { shards } : {}) },
  };
}

describe('plans with namespace stages', () => {
  const carried = ['configmaps', 'secrets'];
  it('leaves the carried types out of the type shards when a stage selects namespaces', () => {
    const byType = plan([{ name: 's', fraction: 1 }]);
    expect(planShards(byType, ['configmaps', 'secrets', 'services'], carried, [[]])).toEqual(['configmaps', 'secrets', 'services']);
    const byNamespace = plan([{ name: 's', namespaces: { names: ['shop'] }, fraction: 1 }]);
    expect(planShards(byNamespace, ['configmaps', 'secrets', 'services'], carried, [[namespaceShardKey('shop')]])).toEqual([
      'services',
      namespaceShardKey('shop'),
    ]);
  });

  it('moves a selected namespace iff hash(namespace) < F, and unselected ones stay at the source', () => {
    const names = ['team-a', 'team-b', 'shop', 'default'];
    const fraction = 0.6; // positions: team-a .589, team-b .899, shop .553, default .217 (unselected)
    const stageNamespaces = [names.slice(0, 3).map(namespaceShardKey)];
    const r = plan([{ name: 'half', namespaces: { names: names.slice(0, 3) }, fraction }]);
    const shards = names.map(namespaceShardKey);
    const out = rolloutStep({ rollout: r, shards, stageNamespaces, table: emptyRoutingTable(), gate: undefined, now: new Date() });
    const expected = Object.fromEntries(names.map((n, i) => [namespaceShardKey(n), i < 3 && shardPosition(n) < fraction ? 'destination' : 'source']));
    expect(out.desiredOwners).toEqual(expected);
    // The positions of these names put some on each side, so the comparison above is not vacuous.
    expect(new Set(Object.values(expected)).size).toBe(2);
  });
});
