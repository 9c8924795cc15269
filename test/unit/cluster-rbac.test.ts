// Cluster RBAC follows the source (docs/adr/0013): which ClusterRoles and ClusterRoleBindings are
// copied (lib/mirror/cluster-rbac.ts, lib/mirror/copy.ts skipReason), how an aggregated ClusterRole's copy is
// written and compared, a binding whose roleRef changed, the shards never moved, and a mirror that keeps
// the replica's own objects (synchronizer/shard-mirror.ts keepReplicaOriginals) over an in-memory API server.
// The lab test is test/e2e/cluster-rbac.test.ts.
import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterRbacSkip, isAggregated, ReplicaOriginalKept, roleRefChanged, RBAC_BOOTSTRAP_LABEL } from '../../lib/mirror/cluster-rbac.js';
import { replicaCopy, sameMirroredContent, skipReason } from '../../lib/mirror/copy.js';
import { MIRROR_OF_UID_ANNOTATION } from '../../lib/names.js';
import { type KubeObject } from '../../lib/kube/types.js';
import { isSourcePinned, SOURCE_PINNED_SHARDS } from '../../lib/routing/resource-classes.js';
import { beginHandoff, emptyRoutingTable } from '../../lib/routing/routing-table.js';
import { readDesiredOwners } from '../../aggregator/handoff/owner-reconciler.js';
import { clusterRbacDifferences } from '../../cli/preflight/cluster-rbac.js';
import { renderLine, renderReport } from '../../cli/preflight/report.js';
import type { KubeRestClient } from '../../lib/kube/rest-client.js';
import { loadSyncConfig } from '../../synchronizer/config.js';
import { ShardMirror } from '../../synchronizer/shard-mirror.js';
import { CONFIGMAPS_API, FakeCluster, quietCounters } from '../helpers/mirror-fixtures.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';

const ROLES = 'clusterroles.rbac.authorization.k8s.io';
const BINDINGS = 'clusterrolebindings.rbac.authorization.k8s.io';

const clusterRole = (name: string, extra: Partial<KubeObject> = {}, labels?: Record<string, string>): KubeObject => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRole',
  metadata: { name, uid: `uid-${name}`, resourceVersion: '5', ...(labels ? { labels } : {}) },
  rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
  ...extra,
});
const binding = (name: string, role: string): KubeObject => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRoleBinding',
  metadata: { name, uid: `uid-${name}`, resourceVersion: '6' },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
  subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace: 'ops' }],
});
const bootstrap = { [RBAC_BOOTSTRAP_LABEL]: 'rbac-defaults' };
const aggregation = (label: string) => ({ aggregationRule: { clusterRoleSelectors: [{ matchLabels: { [label]: 'true' } }] } });

describe('which cluster RBAC is copied', () => {
  it.each([
    ["kube-apiserver's bootstrap role edit (labelled, no system: prefix)", clusterRole('edit', {}, bootstrap), 'rbac-bootstrap'],
    [
      'a bootstrap binding cluster-admin',
      { ...binding('cluster-admin', 'cluster-admin'), metadata: { name: 'cluster-admin', labels: bootstrap } },
      'rbac-bootstrap',
    ],
    ['a system: role a component installed without the label (metrics-server)', clusterRole('system:aggregated-metrics-reader'), 'system-name'],
    ['a system: binding', binding('system:kube-dns', 'system:kube-dns'), 'system-name'],
    ["the bridge's own role", clusterRole('cluster-bridge-synchronizer'), 'bridge-own'],
    ["the bridge's own binding", binding('cluster-bridge-aggregator', 'cluster-bridge-aggregator'), 'bridge-own'],
    ["an operator's role", clusterRole('operator-manager'), undefined],
    ['a role labelled bootstrapping with another value', clusterRole('tenant', {}, { [RBAC_BOOTSTRAP_LABEL]: 'helm' }), undefined],
    ['a role whose name only contains system:', clusterRole('my-system:reader'), undefined],
    ['a role named cluster-bridge (no dash): not one of the manifests', clusterRole('cluster-bridge'), undefined],
  ])('%s', (_what, obj, expected) => {
    expect(clusterRbacSkip(obj)).toBe(expected);
    expect(skipReason(obj.kind === 'ClusterRole' ? ROLES : BINDINGS, obj)).toBe(expected ? 'cluster-own-object' : undefined);
  });

  it('applies those rules to the two cluster-wide types only: a namespaced Role keeps its own rules', () => {
    const role = { ...clusterRole('system:leader-locking'), kind: 'Role', metadata: { name: 'system:leader-locking', namespace: 'apps' } };
    expect(skipReason('roles.rbac.authorization.k8s.io', role)).toBeUndefined();
    expect(skipReason('roles.rbac.authorization.k8s.io', { ...role, metadata: { ...role.metadata, namespace: 'kube-system' } })).toBe('system-namespace');
  });
});

describe('an aggregated ClusterRole', () => {
  const computedOnSource = [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }];
  const computedOnReplica = [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }];
  const owner = clusterRole('tenant-admin', { ...aggregation('example.com/aggregate-to-tenant'), rules: computedOnSource });

  it("is created with the owner's aggregationRule and none of the rules the owner's controller computed", () => {
    expect(isAggregated(owner)).toBe(true);
    const created = replicaCopy(owner);
    expect(created.aggregationRule).toEqual(owner.aggregationRule);
    expect(created).not.toHaveProperty('rules');
  });

  it("is updated keeping the rules the replica's controller computed, so it never grants nothing in between", () => {
    const replica = clusterRole('tenant-admin', { ...aggregation('example.com/aggregate-to-tenant'), rules: computedOnReplica });
    const updated = replicaCopy({ ...owner, metadata: { ...owner.metadata, labels: { tier: 'gold' } } }, '9', [], replica);
    expect(updated.rules).toEqual(computedOnReplica);
    expect(updated.metadata).toMatchObject({ labels: { tier: 'gold' }, resourceVersion: '9' });
  });

  it('compares equal whatever rules each side computed, and differs when the aggregationRule does', () => {
    const replica = replicaCopy(owner, undefined, [], clusterRole('x', { rules: computedOnReplica }));
    const stored = { ...replica, rules: computedOnReplica, metadata: { ...replica.metadata, uid: 'dst', resourceVersion: '40' } };
    expect(sameMirroredContent(owner, stored)).toBe(true);
    const otherSelector = { ...owner, ...aggregation('example.com/aggregate-to-other') };
    expect(sameMirroredContent(otherSelector, stored)).toBe(false);
  });

  it("a role that is not aggregated is copied with the owner's rules, over whatever the replica had", () => {
    const plain = clusterRole('reader', { rules: computedOnSource });
    const replica = clusterRole('reader', { ...aggregation('a'), rules: computedOnReplica });
    expect(replicaCopy(plain, '3', [], replica).rules).toEqual(computedOnSource);
    expect(replicaCopy(plain, '3', [], replica)).not.toHaveProperty('aggregationRule');
    expect(sameMirroredContent(plain, { ...plain, rules: computedOnReplica })).toBe(false);
  });
});

describe('a binding whose roleRef changed', () => {
  it('is told apart from one that changed otherwise (roleRef is immutable: the copy is created again)', () => {
    const before = binding('ops', 'reader');
    expect(roleRefChanged(binding('ops', 'writer'), before)).toBe(true);
    expect(roleRefChanged({ ...before, subjects: [] }, before)).toBe(false);
    expect(roleRefChanged(clusterRole('r'), clusterRole('r'))).toBe(false);
  });
});

describe('cluster RBAC is never moved', () => {
  it('is pinned to the source, and a hand-off of it is refused', () => {
    expect([...SOURCE_PINNED_SHARDS].sort()).toEqual([BINDINGS, ROLES]);
    expect(isSourcePinned('rolebindings.rbac.authorization.k8s.io')).toBe(false);
    for (const shard of SOURCE_PINNED_SHARDS) {
      expect(() => beginHandoff(emptyRoutingTable(), shard, 'destination', new Date())).toThrow(/never moved: the source owns it in every state/);
    }
  });

  it('is left out of the desired owners (a plan naming it is not retried for ever)', async () => {
    const data = { 'owners.json': JSON.stringify({ [ROLES]: 'destination', configmaps: 'destination' }) };
    const client = { request: async () => ({ status: 200, body: { data } }) } as unknown as KubeRestClient;
    expect(await readDesiredOwners(client, silentLog)).toEqual({ configmaps: 'destination' });
  });

  it('is refused in BRIDGE_SHARDS: the synchronizer mirrors it always, by itself', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cluster-rbac-'));
    for (const file of ['tls.crt', 'tls.key', 'ca.crt', 'k']) writeFileSync(join(dir, file), '');
    const env = { BRIDGE_TLS_DIR: dir, BRIDGE_SOURCE_KUBECONFIG: join(dir, 'k'), BRIDGE_DESTINATION_KUBECONFIG: join(dir, 'k') };
    expect(loadSyncConfig(env).shards).not.toContain(ROLES);
    expect(() => loadSyncConfig({ ...env, BRIDGE_SHARDS: `configmaps,${BINDINGS}` })).toThrow(/always mirrored, source -> destination, and never moved/);
  });
});

describe('a mirror that keeps the replica its own objects', () => {
  const cm = (name: string, data: Record<string, string>, annotations?: Record<string, string>): KubeObject => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: 'apps', ...(annotations ? { annotations } : {}) },
    data,
  });

  async function reconciled(keep: boolean, setUp: (source: FakeCluster, destination: FakeCluster) => void) {
    const source = new FakeCluster('source');
    const destination = new FakeCluster('destination');
    setUp(source, destination);
    const mirror = new ShardMirror('configmaps', CONFIGMAPS_API, source.asSide(), destination.asSide(), quietCounters, silentLog);
    mirror.keepReplicaOriginals = keep;
    try {
      await mirror.reconcile();
      return { source, destination, mirror };
    } finally {
      mirror.stop();
    }
  }

  it('neither overwrites nor deletes a same-named object it did not write, adopts an equal one, and reports the rest', async () => {
    const { destination, mirror } = await reconciled(true, (source, destination) => {
      source.add(cm('differs', { k: 'source' }));
      destination.add(cm('differs', { k: 'destination' }));
      source.add(cm('equal', { k: 'v' }));
      destination.add(cm('equal', { k: 'v' }));
      destination.add(cm('only-here', { k: 'destination' }));
      destination.add(cm('old-copy', { k: 'v' }, { [MIRROR_OF_UID_ANNOTATION]: 'src-gone' }));
    });
    expect(destination.get('differs')?.data).toEqual({ k: 'destination' });
    expect(destination.get('differs')?.metadata.annotations).toBeUndefined();
    expect(destination.get('equal')?.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION]).toMatch(/^source-/);
    expect(destination.get('only-here')?.data).toEqual({ k: 'destination' });
    expect(destination.get('old-copy')).toBeUndefined(); // a copy whose original is gone still goes
    expect(mirror.failingObjects).toEqual(['apps/differs']);
    expect(mirror.progress().errors).toEqual({ 'replica-original-kept': 1 });
    expect(mirror.lastError).toContain('the destination has its own ConfigMap differs, different from the owner');
  });

  it('without the flag, takes such objects over as every other shard does', async () => {
    const { destination } = await reconciled(false, (source, destination) => {
      source.add(cm('differs', { k: 'source' }));
      destination.add(cm('differs', { k: 'destination' }));
    });
    expect(destination.get('differs')?.data).toEqual({ k: 'source' });
  });

  it('names what to do in its error', () => {
    expect(new ReplicaOriginalKept('ClusterRole', 'ops', 'destination').fix).toContain('make the two ClusterRoles equal');
  });
});

describe('preflight: cluster grants the destination adds', () => {
  it("names destination-only bindings and the destination's own differing objects, not copies nor each cluster's own", () => {
    const copy = { ...binding('mirrored', 'r'), metadata: { name: 'mirrored', annotations: { [MIRROR_OF_UID_ANNOTATION]: 'uid-x' } } };
    const source = [binding('same', 'r'), binding('differs', 'r')];
    const destination = [
      binding('same', 'r'),
      { ...binding('differs', 'r'), subjects: [{ kind: 'Group', name: 'everyone' }] },
      binding('extra', 'cluster-admin'),
      copy,
      binding('system:platform', 'r'),
      binding('cluster-bridge-aggregator', 'r'),
    ];
    expect(clusterRbacDifferences('ClusterRoleBinding', source, destination)).toEqual({
      destinationOnly: ['ClusterRoleBinding extra'],
      differing: ['ClusterRoleBinding differs'],
    });
    // A role only the destination has grants nothing until bound: not named.
    expect(clusterRbacDifferences('ClusterRole', [], [clusterRole('lonely')])).toEqual({ destinationOnly: [], differing: [] });
  });

  it('is printed as a warning line, and leaves the report ok', () => {
    const result = { check: 'cluster-rbac' as const, ok: true, warning: true, detail: 'only the destination has 1', fix: 'delete it' };
    expect(renderLine(result)).toBe('warn cluster-rbac: only the destination has 1 (fix: delete it)');
    expect(JSON.parse(renderReport([result], 'json'))).toMatchObject({ ok: true });
  });
});
