/**
 * Owner references on the lab's clusters: a copy's ownerReferences point at the owner's copy in the
 * destination (same shard and across shards), so the destination's garbage collector sees the chain
 * the source's does; deleting the owner in the source ends with the dependents gone from both; a
 * same-named destination object the mirror did not make is never taken as the owner, and the
 * dependent waits until the owner's copy exists.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labComponentsKubeconfig } from '../../lab/install-bridge.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { MIRROR_OF_UID_ANNOTATION } from '../../lib/names.js';
import { type KubeObject, type OwnerReference } from '../../lib/kube/types.js';
import { generateCa, issueCertificate } from '../../lib/tls/pki.js';
import { waitUntil } from '../../lib/wait-until.js';
import { loadSyncConfig } from '../../synchronizer/config.js';
import { startSynchronizer, type RunningSynchronizer } from '../../synchronizer/server.js';
import { lockBridgeState, resetBridgeState } from '../helpers/bridge-lab.js';
import { createNamespace, kubeconfigPath, uniqueName } from '../helpers/lab-clients.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';

/** Two mirrored shards with owners in one and dependents in the other, and a shard whose objects own each other. */
const SHARDS = ['configmaps', 'secrets', 'serviceaccounts'];

let source: KubeRestClient;
let destination: KubeRestClient;
let sync: RunningSynchronizer;
let unlock: () => void;

async function startSync(): Promise<RunningSynchronizer> {
  const ca = await generateCa('sync-owners-e2e-ca');
  const dir = mkdtempSync(join(tmpdir(), 'sync-owners-'));
  const serving = await issueCertificate(ca, { commonName: 'sync-e2e', ipAddresses: ['127.0.0.1'], usage: 'server' });
  writeFileSync(join(dir, 'tls.crt'), serving.certPem);
  writeFileSync(join(dir, 'tls.key'), serving.keyPem);
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  const config = loadSyncConfig({
    BRIDGE_SOURCE_KUBECONFIG: await labComponentsKubeconfig('source'),
    BRIDGE_DESTINATION_KUBECONFIG: kubeconfigPath('destination'),
    BRIDGE_LISTEN_HOST: '127.0.0.1',
    BRIDGE_LISTEN_PORT: '0',
    BRIDGE_OPS_HOST: '127.0.0.1',
    BRIDGE_OPS_PORT: '0',
    BRIDGE_TLS_DIR: dir,
    BRIDGE_SHARDS: SHARDS.join(','),
    BRIDGE_LEASE_DURATION_SECONDS: '6',
  });
  return startSynchronizer({ ...config, leaseName: uniqueName('e2e-sync-owners') }, silentLog);
}

const path = (resource: string, namespace: string, name = '') => `/api/v1/namespaces/${namespace}/${resource}${name ? `/${name}` : ''}`;

async function create(client: KubeRestClient, resource: string, namespace: string, body: Record<string, unknown>): Promise<KubeObject> {
  return (await client.expect<KubeObject>('POST', path(resource, namespace), [201], body)).body;
}

async function read(client: KubeRestClient, resource: string, namespace: string, name: string): Promise<KubeObject | undefined> {
  const got = await client.request<KubeObject>('GET', path(resource, namespace, name));
  return got.status === 200 ? got.body : undefined;
}

const refTo = (owner: KubeObject, kind: string, extra: Partial<OwnerReference> = {}): OwnerReference => ({
  apiVersion: 'v1',
  kind,
  name: owner.metadata.name,
  uid: owner.metadata.uid!,
  ...extra,
});

const mirrorOf = (shard: string) => sync.status().mirrors.find((m) => m.shard === shard)!;

beforeAll(async () => {
  source = KubeRestClient.load(kubeconfigPath('source'));
  destination = KubeRestClient.load(kubeconfigPath('destination'));
  // This synchronizer mirrors whole shards another bridge test mirrors too: one at a time.
  unlock = await lockBridgeState();
  await resetBridgeState(destination);
  sync = await startSync();
  await waitUntil('the synchronizer to lead', () => sync.isLeader());
});

afterAll(async () => {
  await sync?.close();
  unlock?.();
  source.close();
  destination.close();
});

describe('owner references across clusters', () => {
  it('point at the owner copies in the destination, and deleting the owners in the source removes the dependents from both clusters', async () => {
    const namespace = await createNamespace('source', 'sync-owners');
    const parent = await create(source, 'configmaps', namespace, { metadata: { name: 'parent' }, data: { role: 'owner' } });
    // A second owner of a type no synchronizer of the e2e suite mirrors: the copy goes without that reference.
    const limits = await create(source, 'limitranges', namespace, {
      metadata: { name: 'unmirrored' },
      spec: { limits: [{ type: 'Container', max: { cpu: '1' } }] },
    });
    const childRefs = [refTo(parent, 'ConfigMap', { controller: true, blockOwnerDeletion: true }), refTo(limits, 'LimitRange')];
    await create(source, 'configmaps', namespace, { metadata: { name: 'child', ownerReferences: childRefs }, data: { role: 'dependent' } });
    const robot = await create(source, 'serviceaccounts', namespace, { metadata: { name: 'robot' } });
    await create(source, 'secrets', namespace, { metadata: { name: 'robot-data', ownerReferences: [refTo(robot, 'ServiceAccount')] }, stringData: { k: 'v' } });

    const childCopy = await waitUntil('the child ConfigMap to be mirrored', () => read(destination, 'configmaps', namespace, 'child'));
    const secretCopy = await waitUntil('the Secret to be mirrored', () => read(destination, 'secrets', namespace, 'robot-data'));
    const parentCopy = (await read(destination, 'configmaps', namespace, 'parent'))!;
    const robotCopy = (await read(destination, 'serviceaccounts', namespace, 'robot'))!;
    expect(parentCopy.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION]).toBe(parent.metadata.uid);
    expect(parentCopy.metadata.uid).not.toBe(parent.metadata.uid);
    expect(childCopy.metadata.ownerReferences).toEqual([refTo(parentCopy, 'ConfigMap', { controller: true, blockOwnerDeletion: true })]);
    expect(secretCopy.metadata.ownerReferences).toEqual([refTo(robotCopy, 'ServiceAccount')]);
    const metrics = await (await fetch(`http://127.0.0.1:${sync.opsPort}/metrics`)).text();
    expect(metrics).toMatch(/cluster_bridge_synchronizer_owner_references_dropped_total\{[^}]*shard="configmaps"[^}]*reason="owner-not-mirrored"[^}]*\} [1-9]/);

    // The remapped copies are equal to their owners: full reconciles write nothing (no echo).
    for (const shard of ['configmaps', 'secrets']) await sync.mirrors.get(shard)!.reconcile();
    expect((await read(destination, 'configmaps', namespace, 'child'))!.metadata.resourceVersion).toBe(childCopy.metadata.resourceVersion);
    expect((await read(destination, 'secrets', namespace, 'robot-data'))!.metadata.resourceVersion).toBe(secretCopy.metadata.resourceVersion);

    // Background deletion of the owners: the source's garbage collector takes the dependents, and neither cluster keeps any.
    const background = { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background' };
    await source.expect('DELETE', path('configmaps', namespace, 'parent'), [200, 202], background);
    await source.expect('DELETE', path('limitranges', namespace, 'unmirrored'), [200, 202], background);
    await source.expect('DELETE', path('serviceaccounts', namespace, 'robot'), [200, 202], background);
    const gone = async (client: KubeRestClient, resource: string, name: string) => (await read(client, resource, namespace, name)) === undefined;
    for (const client of [source, destination]) {
      await waitUntil('the child ConfigMap to be collected', () => gone(client, 'configmaps', 'child'));
      await waitUntil('the Secret to be collected', () => gone(client, 'secrets', 'robot-data'));
      expect(await gone(client, 'configmaps', 'parent')).toBe(true);
      expect(await gone(client, 'serviceaccounts', 'robot')).toBe(true);
    }
  }, 120_000);

  it('never takes a same-named destination object the mirror did not make as the owner: the dependent waits for the owner copy', async () => {
    const namespace = uniqueName('sync-owners-hand');
    // The destination already has a ConfigMap `boss`, made by hand and immutable, so the mirror cannot take it over.
    await destination.expect('POST', '/api/v1/namespaces', [201], { metadata: { name: namespace } });
    const handMade = await create(destination, 'configmaps', namespace, { metadata: { name: 'boss' }, data: { made: 'by-hand' }, immutable: true });
    await source.expect('POST', '/api/v1/namespaces', [201], { metadata: { name: namespace } });
    const boss = await create(source, 'configmaps', namespace, { metadata: { name: 'boss' }, data: { made: 'in-source' } });
    await create(source, 'secrets', namespace, { metadata: { name: 'boss-data', ownerReferences: [refTo(boss, 'ConfigMap')] }, stringData: { k: 'v' } });

    await waitUntil('the Secret to wait for its owner', () =>
      mirrorOf('secrets').lastError?.includes(`${namespace}/boss-data waits for its owner ConfigMap boss`),
    );
    expect(mirrorOf('secrets').errors['owner-not-copied']).toBeGreaterThan(0);
    expect(await read(destination, 'secrets', namespace, 'boss-data')).toBeUndefined();
    expect((await read(destination, 'configmaps', namespace, 'boss'))!.metadata.uid).toBe(handMade.metadata.uid);

    // Without the hand-made object the owner is copied, and then the dependent, pointing at that copy.
    await destination.expect('DELETE', path('configmaps', namespace, 'boss'), [200]);
    const bossCopy = await waitUntil('the owner to be mirrored', async () => {
      const got = await read(destination, 'configmaps', namespace, 'boss');
      return got?.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION] === boss.metadata.uid && got;
    });
    const secretCopy = await waitUntil('the Secret to be mirrored', () => read(destination, 'secrets', namespace, 'boss-data'), { timeoutMs: 90_000 });
    expect(bossCopy.metadata.uid).not.toBe(handMade.metadata.uid);
    expect(secretCopy.metadata.ownerReferences).toEqual([refTo(bossCopy, 'ConfigMap')]);
  }, 150_000);

  it('keep names from generateName: the copies have the names the source generated, never new ones', async () => {
    const namespace = await createNamespace('source', 'sync-owners-generated');
    const owner = await create(source, 'configmaps', namespace, { metadata: { generateName: 'gen-' }, data: { role: 'owner' } });
    const dependent = await create(source, 'secrets', namespace, {
      metadata: { generateName: 'gen-data-', ownerReferences: [refTo(owner, 'ConfigMap')] },
      stringData: { k: 'v' },
    });
    const secretCopy = await waitUntil('the generated Secret to be mirrored', () => read(destination, 'secrets', namespace, dependent.metadata.name));
    const ownerCopy = (await read(destination, 'configmaps', namespace, owner.metadata.name))!;
    expect(ownerCopy.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION]).toBe(owner.metadata.uid);
    expect(secretCopy.metadata.ownerReferences).toEqual([refTo(ownerCopy, 'ConfigMap')]);
    // Nothing else with the prefix: the destination generated no name of its own.
    const names = async (resource: string) =>
      (await destination.expect<{ items: KubeObject[] }>('GET', path(resource, namespace), [200])).body.items
        .map((o) => o.metadata.name)
        .filter((name) => name.startsWith('gen-'));
    expect(await names('configmaps')).toEqual([owner.metadata.name]);
    expect(await names('secrets')).toEqual([dependent.metadata.name]);
  }, 90_000);

  it('keep the dependents on both sides when the owner is deleted with propagationPolicy=Orphan', async () => {
    const namespace = await createNamespace('source', 'sync-owners-orphan');
    const keeper = await create(source, 'configmaps', namespace, { metadata: { name: 'keeper' }, data: { role: 'owner' } });
    await create(source, 'secrets', namespace, { metadata: { name: 'kept', ownerReferences: [refTo(keeper, 'ConfigMap')] }, stringData: { k: 'v' } });
    const copy = await waitUntil('the Secret to be mirrored with its reference', async () => {
      const got = await read(destination, 'secrets', namespace, 'kept');
      return got?.metadata.ownerReferences?.length === 1 && got;
    });

    const orphan = { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Orphan' };
    await source.expect('DELETE', path('configmaps', namespace, 'keeper'), [200, 202], orphan);
    for (const client of [source, destination]) {
      await waitUntil('the owner to be gone', async () => (await read(client, 'configmaps', namespace, 'keeper')) === undefined);
      await waitUntil(
        'the dependent to lose its reference',
        async () => (await read(client, 'secrets', namespace, 'kept'))?.metadata.ownerReferences === undefined,
      );
    }
    // The destination's collector never deleted the copy (it would have been written again, with a new UID).
    expect((await read(destination, 'secrets', namespace, 'kept'))!.metadata.uid).toBe(copy.metadata.uid);
  }, 120_000);
});

/** Who manages the object, as sorted `manager:operation` (the API server orders entries by time). */
const managers = (obj: KubeObject | undefined) =>
  ((obj?.metadata.managedFields ?? []) as { manager: string; operation: string }[]).map((e) => `${e.manager}:${e.operation}`).sort();

/** Waits until the destination's copy is managed by exactly `wanted`; a timeout says who managed it last. */
const copyManagedBy = (namespace: string, wanted: string[]) =>
  waitUntil(`the copy managed by ${wanted.join(', ')}`, async () => {
    const copy = await read(destination, 'configmaps', namespace, 'applied');
    if (managers(copy).join() !== wanted.join()) throw new Error(`managed by ${managers(copy).join(', ') || 'nobody'}`);
    return copy!;
  });

describe('field ownership (server-side apply) on copies', () => {
  const apply = (client: KubeRestClient, namespace: string, manager: string, data: Record<string, string>, force = false) =>
    client.request(
      'PATCH',
      `${path('configmaps', namespace, 'applied')}?fieldManager=${manager}${force ? '&force=true' : ''}`,
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied', namespace }, data },
      { patchType: 'apply' },
    );

  // Seen in CI as client-go's ssa checks failing across a hand-off: the copy listed only the synchronizer,
  // so a second applier did not share the field and a conflict named the synchronizer.
  it("are the owner's appliers, not the synchronizer: shared ownership, and a conflict names them", async () => {
    const namespace = await createNamespace('source', 'sync-ssa');
    expect((await apply(source, namespace, 'gc-ssa-a', { mode: 'one' })).status).toBe(201);
    await copyManagedBy(namespace, ['gc-ssa-a:Apply']);
    // A second applier of the same value: only the ownership changes, and the copy follows.
    expect((await apply(source, namespace, 'gc-ssa-b', { mode: 'one' })).status).toBe(200);
    const both = await copyManagedBy(namespace, ['gc-ssa-a:Apply', 'gc-ssa-b:Apply']);
    // On the destination, as on the source: a third applier's other value conflicts with both, named.
    const conflict = await apply(destination, namespace, 'gc-ssa-c', { mode: 'two' });
    expect(conflict.status).toBe(409);
    const message = (conflict.body as { message?: string }).message ?? '';
    expect(message).toMatch(/conflicts? with "gc-ssa-a"/);
    expect(message).toMatch(/conflicts? with "gc-ssa-b"/);
    expect(message).not.toContain('cluster-bridge-synchronizer');
    // Equal now: a full reconcile writes nothing (no echo).
    await sync.mirrors.get('configmaps')!.reconcile();
    expect((await read(destination, 'configmaps', namespace, 'applied'))!.metadata.resourceVersion).toBe(both.metadata.resourceVersion);
  });
});
