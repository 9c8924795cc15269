/**
 * Cascading deletion at every stage of a type-shard rollout (issue 8): an owner ConfigMap with a
 * dependent ConfigMap (same shard) and a dependent Secret (another shard), all made in the source
 * before the rollout, is deleted on the cluster that owns configmaps with each propagation policy.
 * The dependent ConfigMap carries a finalizer of a controller the test plays (on the owner's cluster),
 * so a Foreground owner is seen waiting for it. Both clusters must end as one cluster would:
 * Background and Foreground leave no dependent, Orphan keeps them (the same objects, without the
 * reference), the owner is gone, nothing stays terminating (no copy left with a foregroundDeletion,
 * orphan or mirrored finalizer), and a full reconcile afterwards brings nothing back. A lab of its
 * own: the stages move shards' owners.
 */
import { stopPrivateLab } from '../helpers/private-lab.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { labSynchronizerEnv } from '../../lab/local-synchronizer.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import type { KubeObject } from '../../lib/kube/types.js';
import { ConfigMapRoutingStore } from '../../lib/routing/configmap-store.js';
import { beginHandoff, completeHandoff, shardState } from '../../lib/routing/routing-table.js';
import type { ClusterSide } from '../../lib/routing/types.js';
import { waitUntil } from '../../lib/wait-until.js';
import { loadSyncConfig } from '../../synchronizer/config.js';
import { startSynchronizer, type RunningSynchronizer } from '../../synchronizer/server.js';
import { createNamespace, kubeconfigPath, uniqueName } from '../helpers/lab-clients.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';

type Shard = 'configmaps' | 'secrets';
type Owners = Record<Shard, ClusterSide>;
type Policy = 'Background' | 'Foreground' | 'Orphan';

const SHARDS: Shard[] = ['configmaps', 'secrets'];
/** The finalizer of a controller that runs where the dependent ConfigMap's shard is owned (the test removes it). */
const HOLD = 'e2e.cluster-bridge.io/hold';
const ALL_SOURCE: Owners = { configmaps: 'source', secrets: 'source' };
/** The owners each stage goes through from the start, as a staged rollout of type shards moves them (secrets first) and a rollback returns them. */
const STAGES: { stage: string; path: Owners[] }[] = [
  { stage: 'source-owned', path: [] },
  { stage: 'secrets moved, configmaps not yet', path: [{ configmaps: 'source', secrets: 'destination' }] },
  {
    stage: 'destination-owned after the hand-offs',
    path: [
      { configmaps: 'source', secrets: 'destination' },
      { configmaps: 'destination', secrets: 'destination' },
    ],
  },
  {
    stage: 'source-owned again after a rollback',
    path: [
      { configmaps: 'source', secrets: 'destination' },
      { configmaps: 'destination', secrets: 'destination' },
      { configmaps: 'source', secrets: 'source' },
    ],
  },
];
/** What one cluster does to the dependents of an owner deleted with each policy. */
const POLICIES: { policy: Policy; dependents: 'deleted' | 'kept' }[] = [
  { policy: 'Background', dependents: 'deleted' },
  { policy: 'Foreground', dependents: 'deleted' },
  { policy: 'Orphan', dependents: 'kept' },
];

let source: KubeRestClient;
let destination: KubeRestClient;
let sync: RunningSynchronizer;
const client = (side: ClusterSide) => (side === 'source' ? source : destination);
const mirrorOf = (shard: Shard) => sync.mirrors.get(shard);
const path = (resource: Shard, namespace: string, name = '') => `/api/v1/namespaces/${namespace}/${resource}${name ? `/${name}` : ''}`;

async function read(side: ClusterSide, resource: Shard, namespace: string, name: string): Promise<KubeObject | undefined> {
  const got = await client(side).request<KubeObject>('GET', path(resource, namespace, name));
  return got.status === 200 ? got.body : undefined;
}

/** Hands each shard whose owner differs to its new owner, as a rollout step does: the old owner caught up first, then a new epoch. */
async function moveTo(owners: Owners): Promise<void> {
  const store = new ConfigMapRoutingStore(destination, silentLog);
  for (const shard of SHARDS) {
    const { table, version } = await store.load();
    const from = shardState(table, shard).owner;
    if (from === owners[shard]) continue;
    await mirrorOf(shard)!.reconcile();
    const list = await client(from).expect<{ metadata: { resourceVersion: string } }>('GET', `/api/v1/${shard}?limit=1`, [200]);
    const now = new Date();
    await store.replace(completeHandoff(beginHandoff(table, shard, owners[shard], now), shard, list.body.metadata.resourceVersion, now), version);
    await waitUntil(`the ${shard} mirror to run from the ${owners[shard]}`, () => {
      const progress = mirrorOf(shard)?.progress();
      return progress?.direction.startsWith(`${owners[shard]}->`) && progress.initialSyncComplete;
    });
  }
}

const ownerRef = (owner: KubeObject) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  name: owner.metadata.name,
  uid: owner.metadata.uid!,
  blockOwnerDeletion: true,
});

/** In the source: `owner-<policy>`, `child-<policy>` (ConfigMap) and `data-<policy>` (Secret), both owned by the first. */
async function createFamily(namespace: string, policy: Policy): Promise<void> {
  const suffix = policy.toLowerCase();
  const owner = await source.expect<KubeObject>('POST', path('configmaps', namespace), [201], {
    metadata: { name: `owner-${suffix}` },
    data: { role: 'owner' },
  });
  const refs = [{ ...ownerRef(owner.body), controller: true }];
  await source.expect('POST', path('configmaps', namespace), [201], {
    metadata: { name: `child-${suffix}`, ownerReferences: refs, finalizers: [HOLD] },
    data: { role: 'dependent' },
  });
  await source.expect('POST', path('secrets', namespace), [201], { metadata: { name: `data-${suffix}`, ownerReferences: refs }, stringData: { k: 'v' } });
}

const familyNames = (policy: Policy) => {
  const suffix = policy.toLowerCase();
  const child = `child-${suffix}`;
  return { owner: `owner-${suffix}`, child, dependents: [['configmaps', child] as const, ['secrets', `data-${suffix}`] as const] };
};

/** Each dependent in each cluster: gone, or there, not terminating, without the owner's reference and with the UID it had before. */
async function endsAsOneCluster(namespace: string, policy: Policy, kept: boolean, uidsBefore: Map<string, string>): Promise<boolean> {
  const { owner, dependents } = familyNames(policy);
  for (const side of ['source', 'destination'] as const) {
    if (await read(side, 'configmaps', namespace, owner)) return false;
    for (const [resource, name] of dependents) {
      const obj = await read(side, resource, namespace, name);
      if (!kept) {
        if (obj) return false;
        continue;
      }
      if (!obj || obj.metadata.deletionTimestamp || obj.metadata.ownerReferences) return false;
      expect(obj.metadata.finalizers).toEqual(resource === 'configmaps' ? [HOLD] : undefined);
      expect(obj.metadata.uid).toBe(uidsBefore.get(`${side}/${name}`));
    }
  }
  return true;
}

/** Nothing in the namespace, in either cluster, is left terminating (a foregroundDeletion or orphan finalizer nobody removes). */
async function terminating(namespace: string): Promise<string[]> {
  const found: string[] = [];
  for (const side of ['source', 'destination'] as const) {
    for (const resource of SHARDS) {
      const list = await client(side).expect<{ items: KubeObject[] }>('GET', path(resource, namespace), [200]);
      for (const obj of list.body.items)
        if (obj.metadata.deletionTimestamp) found.push(`${side} ${resource}/${obj.metadata.name} ${JSON.stringify(obj.metadata.finalizers)}`);
    }
  }
  return found;
}

beforeAll(async () => {
  source = KubeRestClient.load(kubeconfigPath('source'));
  destination = KubeRestClient.load(kubeconfigPath('destination'));
  const config = loadSyncConfig({ ...(await labSynchronizerEnv('sync-cascade', SHARDS)), BRIDGE_LEASE_DURATION_SECONDS: '6' });
  sync = await startSynchronizer({ ...config, leaseName: uniqueName('sync-cascade') }, silentLog);
  await waitUntil('the synchronizer to lead and sync', () => SHARDS.every((shard) => mirrorOf(shard)?.progress().initialSyncComplete));
}, 120_000);

afterAll(async () => {
  await sync?.close();
  source?.close();
  destination?.close();
  await stopPrivateLab();
}, 120_000);

describe('cascading deletion ends in both clusters as in one, at every stage of a rollout', () => {
  it.each(STAGES)(
    '$stage',
    async ({ path: steps }) => {
      await moveTo(ALL_SOURCE);
      const namespace = await createNamespace('source', 'sync-cascade');
      for (const { policy } of POLICIES) await createFamily(namespace, policy);
      await waitUntil('every dependent copy to point at its owner copy', async () => {
        for (const { policy } of POLICIES) {
          for (const [resource, name] of familyNames(policy).dependents) {
            if ((await read('destination', resource, namespace, name))?.metadata.ownerReferences?.length !== 1) return false;
          }
        }
        return true;
      });
      for (const owners of steps) await moveTo(owners);
      const { configmaps: ownerSide } = steps.at(-1) ?? ALL_SOURCE;

      const uidsBefore = new Map<string, string>();
      for (const side of ['source', 'destination'] as const) {
        for (const { policy } of POLICIES) {
          for (const [resource, name] of familyNames(policy).dependents)
            uidsBefore.set(`${side}/${name}`, (await read(side, resource, namespace, name))!.metadata.uid!);
        }
      }
      // Each owner is deleted where its shard is owned, as a client's DELETE through the bridge is routed.
      for (const { policy } of POLICIES) {
        const options = { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: policy };
        await client(ownerSide).expect('DELETE', path('configmaps', namespace, familyNames(policy).owner), [200, 202], options);
      }
      const replicaSide = ownerSide === 'source' ? 'destination' : 'source';
      for (const { policy, dependents } of POLICIES) {
        if (dependents === 'kept') continue;
        const { owner, child } = familyNames(policy);
        await waitUntil(
          `the ${policy} deletion to reach ${child}`,
          async () => (await read(ownerSide, 'configmaps', namespace, child))?.metadata.deletionTimestamp,
        );
        if (policy === 'Foreground') {
          // As in one cluster, the owner waits for its blocking dependent; its copy carries no foregroundDeletion finalizer.
          const waiting = (await read(ownerSide, 'configmaps', namespace, owner))!;
          expect(waiting.metadata.deletionTimestamp).toBeDefined();
          expect(waiting.metadata.finalizers).toEqual(['foregroundDeletion']);
          expect((await read(replicaSide, 'configmaps', namespace, owner))?.metadata.finalizers).toBeUndefined();
        }
        const release = { metadata: { finalizers: null } };
        await client(ownerSide).expect('PATCH', path('configmaps', namespace, child), [200], release, { patchType: 'merge' });
      }
      for (const { policy, dependents } of POLICIES) {
        await waitUntil(`the ${policy} deletion to end as in one cluster (dependents ${dependents})`, () =>
          endsAsOneCluster(namespace, policy, dependents === 'kept', uidsBefore),
        );
      }
      expect(await terminating(namespace)).toEqual([]);

      // Full reconciles afterwards write nothing back: no dependent reappears, none is lost.
      for (const shard of SHARDS) await mirrorOf(shard)!.reconcile();
      for (const { policy, dependents } of POLICIES) expect(await endsAsOneCluster(namespace, policy, dependents === 'kept', uidsBefore)).toBe(true);
    },
    180_000,
  );
});
