// One writer of desired owners (issue 21): a move of a shard a BridgeRollout governs is refused naming
// it, and shard names are checked against what the API server serves before anything is held.
// The lab test is test/e2e/fault-recovery.test.ts.
import { describe, expect, it } from '@jest/globals';
import { governedMoveRefusal, governingRollout } from '../../aggregator/rollout/rollout-governance.js';
import type { BridgeRollout } from '../../aggregator/rollout/rollout-types.js';
import { isBridgeError } from '../../lib/errors.js';
import { DEFAULT_SHARDS } from '../../lib/routing/resource-classes.js';
import { checkShardMirrored, checkShardServed, ShardRefused } from '../../lib/routing/shard-validation.js';

const rollout = (name: string, created: string, extra: { shards?: string[]; phase?: string; finalizedAt?: string } = {}): BridgeRollout =>
  ({
    apiVersion: 'cluster-bridge.io/v1alpha1',
    kind: 'BridgeRollout',
    metadata: { name, namespace: 'cluster-bridge-system', creationTimestamp: created },
    spec: { stages: [{ name: 'all', fraction: 1 }], ...(extra.shards ? { shards: extra.shards } : {}) },
    ...(extra.phase ? { status: { phase: extra.phase, ...(extra.finalizedAt ? { finalizedAt: extra.finalizedAt } : {}) } } : {}),
  }) as unknown as BridgeRollout;

describe('governingRollout', () => {
  it.each([
    ['no rollout', [], 'configmaps', undefined],
    ['a RolledBack rollout of the default shards', [rollout('m', '2026-01-01T00:00:00Z', { phase: 'RolledBack' })], 'configmaps', 'm'],
    [
      'a finalized rollout governs nothing',
      [rollout('m', '2026-01-01T00:00:00Z', { phase: 'Complete', finalizedAt: '2026-01-02T00:00:00Z' })],
      'configmaps',
      undefined,
    ],
    ['a rollout of other shards', [rollout('m', '2026-01-01T00:00:00Z', { shards: ['secrets'] })], 'configmaps', undefined],
    ['a type outside the default shards', [rollout('m', '2026-01-01T00:00:00Z')], 'deployments.apps', undefined],
    [
      'the oldest of two',
      [rollout('young', '2026-02-01T00:00:00Z', { shards: ['configmaps'] }), rollout('old', '2026-01-01T00:00:00Z', { shards: ['configmaps'] })],
      'configmaps',
      'old',
    ],
  ])('%s', (_what, rollouts, shard, expected) => {
    expect(governingRollout(rollouts as BridgeRollout[], shard as string, DEFAULT_SHARDS)?.metadata.name).toBe(expected);
  });

  const byNamespaces = (namespaces: object) =>
    ({ ...rollout('ns', '2026-01-01T00:00:00Z'), spec: { stages: [{ name: 's', namespaces, fraction: 1 }] } }) as unknown as BridgeRollout;
  it.each([
    ['a type-shard plan governs no namespace shard', rollout('m', '2026-01-01T00:00:00Z'), 'namespace/app', undefined],
    ['a stage naming the namespace', byNamespaces({ names: ['app'] }), 'namespace/app', 'ns'],
    ['a stage naming other namespaces', byNamespaces({ names: ['shop'] }), 'namespace/app', undefined],
    ['a stage selecting by labels may take any namespace in', byNamespaces({ selector: 'team=a' }), 'namespace/app', 'ns'],
    ['a stage selecting all namespaces', byNamespaces({ all: true }), 'namespace/app', 'ns'],
  ])('%s', (_what, governing, shard, expected) => {
    expect(governingRollout([governing], shard, DEFAULT_SHARDS)?.metadata.name).toBe(expected);
  });

  it('refuses naming the rollout, its phase and how to take over', () => {
    const err = governedMoveRefusal(rollout('migration', '2026-01-01T00:00:00Z', { phase: 'RolledBack' }), 'configmaps');
    expect(err.toLine()).toMatch(/^BRIDGE_ERR_ROLLOUT: BridgeRollout "migration" \(phase RolledBack\) governs configmaps/);
    expect(err.fix).toContain('kubectl -n cluster-bridge-system delete bridgerollout migration');
    expect(err.fix).toContain('bridgectl advance|pause|rollback --name migration');
  });
});

/** Discovery as a 1.36 API server answers it, reduced to what the checks read; `failing` paths answer that status instead. */
function discovery(failing: Record<string, number> = {}): Pick<import('../../lib/kube/rest-client.js').KubeRestClient, 'request'> {
  const paths: Record<string, unknown> = {
    '/api/v1': { resources: [{ name: 'configmaps' }, { name: 'pods' }, { name: 'pods/status' }, { name: 'secrets' }] },
    '/apis': {
      groups: [
        { name: 'coordination.k8s.io', preferredVersion: { groupVersion: 'coordination.k8s.io/v1' } },
        { name: 'apps', preferredVersion: { groupVersion: 'apps/v1' } },
      ],
    },
    '/apis/coordination.k8s.io': { preferredVersion: { groupVersion: 'coordination.k8s.io/v1' } },
    '/apis/coordination.k8s.io/v1': { resources: [{ name: 'leases' }] },
    '/apis/apps': { preferredVersion: { groupVersion: 'apps/v1' } },
    '/apis/apps/v1': { resources: [{ name: 'deployments' }, { name: 'replicasets' }] },
  };
  return {
    request: async <T>(_method: string, path: string) =>
      failing[path] ? { status: failing[path], body: {} as T } : path in paths ? { status: 200, body: paths[path] as T } : { status: 404, body: {} as T },
  };
}

describe('checkShardServed', () => {
  it.each([
    ['configmaps', undefined],
    ['leases.coordination.k8s.io', undefined],
    ['deployments.apps', undefined],
    ['leases', /serves no resource type leases; did you mean leases\.coordination\.k8s\.io\?.*fix: pass --shard leases\.coordination\.k8s\.io/],
    ['widgets.example.com', /serves no resource type widgets\.example\.com/],
    ['pods', /pods is a located resource type: it never changes owner/],
    ['replicasets.apps', /replicasets\.apps is a located resource type/],
  ])('%s', async (shard, refusal) => {
    const outcome = await checkShardServed(discovery(), shard, 'source').then(
      () => undefined,
      (err: unknown) => err,
    );
    if (!refusal) return expect(outcome).toBeUndefined();
    expect(outcome).toBeInstanceOf(ShardRefused);
    expect(isBridgeError(outcome, 'BRIDGE_ERR_ROUTING') && outcome.toLine()).toMatch(refusal);
  });

  // A refusal is asked again in a minute; an API server that cannot answer now is asked again in seconds.
  it.each([
    ['/apis/coordination.k8s.io', 503],
    ['/apis/coordination.k8s.io/v1', 503],
    ['/api/v1', 500],
    ['/apis', 429],
  ])('a discovery answer of %s HTTP %d is an API error, not a refusal', async (path, status) => {
    const shard = path === '/apis' ? 'leases' : path === '/api/v1' ? 'configmaps' : 'leases.coordination.k8s.io';
    const outcome = await checkShardServed(discovery({ [path]: status }), shard, 'source').then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(outcome).not.toBeInstanceOf(ShardRefused);
    expect(outcome).toMatchObject({ code: 'BRIDGE_ERR_KUBE_API', apiStatus: status, message: `discovery ${path}: HTTP ${status}` });
  });

  it('checkShardMirrored names what the synchronizer mirrors', () => {
    expect(() => checkShardMirrored('configmaps', DEFAULT_SHARDS)).not.toThrow();
    expect(() => checkShardMirrored('deployments.apps', DEFAULT_SHARDS)).toThrow(/does not mirror deployments\.apps \(it mirrors configmaps, secrets/);
  });
});
