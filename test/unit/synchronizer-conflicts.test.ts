import { describe, expect, it } from '@jest/globals';
import { contentFingerprint, judgeReplica, ownWriteOf, type OwnWrite } from '../../lib/mirror/conflict.js';
import { replicaCopy } from '../../lib/mirror/copy.js';
import { MIRROR_OF_RV_ANNOTATION, MIRROR_OF_UID_ANNOTATION } from '../../lib/names.js';
import { type KubeObject } from '../../lib/kube/types.js';
import { CONFLICT_REASON, conflictEvent } from '../../synchronizer/conflict-event.js';

/** The owner's Secret at resourceVersion `rv` with `data`. */
const owner = (rv: string, data: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'db', namespace: 'apps', uid: 'src-1', resourceVersion: rv, annotations: { team: 'a' } },
  type: 'Opaque',
  data,
});

/** What the replica's API server stores for a copy of `from`: the copy, with its own uid and resourceVersion. */
const stored = (from: KubeObject, rv: string, uid = 'dst-1'): KubeObject => {
  const copy = replicaCopy(from);
  return { ...copy, metadata: { ...copy.metadata, uid, resourceVersion: rv, creationTimestamp: '2026-12-06T00:00:00Z' } };
};

/** The replica's object after someone else changed it (a new resourceVersion, other data). */
const changedBehind = (obj: KubeObject, rv: string, data: Record<string, string>): KubeObject => ({
  ...obj,
  metadata: { ...obj.metadata, resourceVersion: rv },
  data,
});

const v1 = owner('100', { password: 'b2xk' });
const v2 = owner('200', { password: 'bmV3' });
const written = stored(v1, '7');
const own: OwnWrite = ownWriteOf(written)!;

describe('judgeReplica: own writes never conflict, a foreign change since the last own write does', () => {
  const cases: { name: string; ownerNow: KubeObject; replica: KubeObject | null; lastWrite: OwnWrite | undefined; conflict: boolean; reason: string }[] = [
    {
      name: 'the owner changed, the replica is as the synchronizer left it',
      ownerNow: v2,
      replica: written,
      lastWrite: own,
      conflict: false,
      reason: 'unchanged-since-own-write',
    },
    {
      name: "the replica's controllers changed it without touching the mirrored content (status, a new resourceVersion)",
      ownerNow: v2,
      replica: { ...written, metadata: { ...written.metadata, resourceVersion: '9' }, status: { anything: true } },
      lastWrite: own,
      conflict: false,
      reason: 'same-content-as-own-write',
    },
    {
      name: "the replica's garbage collector removed an ownerReference",
      ownerNow: v2,
      replica: { ...written, metadata: { ...written.metadata, resourceVersion: '9', ownerReferences: [] } },
      lastWrite: own,
      conflict: false,
      reason: 'same-content-as-own-write',
    },
    {
      name: 'someone changed the data in the replica, the owner changed too (both sides in one window)',
      ownerNow: v2,
      replica: changedBehind(written, '8', { password: 'aGFuZA==' }),
      lastWrite: own,
      conflict: true,
      reason: 'changed-since-own-write',
    },
    {
      name: 'someone changed a label in the replica, the owner did not change',
      ownerNow: v1,
      replica: { ...written, metadata: { ...written.metadata, resourceVersion: '8', labels: { hand: 'made' } } },
      lastWrite: own,
      conflict: true,
      reason: 'changed-since-own-write',
    },
    {
      name: 'after a restart: a copy of the current owner version whose content differs',
      ownerNow: v1,
      replica: changedBehind(written, '8', { password: 'aGFuZA==' }),
      lastWrite: undefined,
      conflict: true,
      reason: 'differs-from-owner-version-written',
    },
    {
      name: 'after a restart: the owner changed since the copy was written, so the copy cannot be judged',
      ownerNow: v2,
      replica: changedBehind(written, '8', { password: 'aGFuZA==' }),
      lastWrite: undefined,
      conflict: false,
      reason: 'owner-changed-since-unknown-write',
    },
    {
      name: 'after a restart: a copy of the current owner version that differs only in its ownerReferences',
      ownerNow: v1,
      replica: { ...written, metadata: { ...written.metadata, ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'dst-x' }] } },
      lastWrite: undefined,
      conflict: false,
      reason: 'same-content-as-own-write',
    },
    {
      name: 'a same-named object the synchronizer never wrote',
      ownerNow: v1,
      replica: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'apps', uid: 'dst-hand', resourceVersion: '3' }, data: { x: 'eQ==' } },
      lastWrite: undefined,
      conflict: false,
      reason: 'not-a-copy',
    },
    {
      name: 'the copy was deleted and made again by someone else (another uid, no mirror annotations)',
      ownerNow: v2,
      replica: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'apps', uid: 'dst-2', resourceVersion: '12' }, data: { x: 'eQ==' } },
      lastWrite: own,
      conflict: false,
      reason: 'not-a-copy',
    },
    {
      name: 'someone removed the mirror annotations and changed the data: memory still knows the object',
      ownerNow: v2,
      replica: {
        ...changedBehind(written, '8', { password: 'aGFuZA==' }),
        metadata: { ...written.metadata, resourceVersion: '8', annotations: { team: 'a' } },
      },
      lastWrite: own,
      conflict: true,
      reason: 'changed-since-own-write',
    },
    {
      name: 'the copy the synchronizer wrote was deleted in the replica (it is about to be created again)',
      ownerNow: v2,
      replica: null,
      lastWrite: own,
      conflict: true,
      reason: 'deleted-since-own-write',
    },
    {
      name: 'no copy and no memory of one: a new object, or a restart since (a deletion cannot be told)',
      ownerNow: v1,
      replica: null,
      lastWrite: undefined,
      conflict: false,
      reason: 'never-copied',
    },
  ];
  it.each(cases)('$name -> conflict $conflict ($reason)', ({ ownerNow, replica, lastWrite, conflict, reason }) => {
    expect(judgeReplica(ownerNow, replica, lastWrite)).toEqual({ conflict, reason });
  });

  it('fingerprints the mirrored content only: server metadata, mirror annotations and status do not change it', () => {
    const moved = { ...written, metadata: { ...written.metadata, uid: 'other', resourceVersion: '99', annotations: { team: 'a' } }, status: { x: 1 } };
    expect(contentFingerprint(moved)).toBe(contentFingerprint(written));
    expect(contentFingerprint(v2)).not.toBe(contentFingerprint(v1));
    expect(own).toEqual({ uid: 'dst-1', resourceVersion: '7', fingerprint: contentFingerprint(v1) });
    expect(written.metadata.annotations).toMatchObject({ [MIRROR_OF_UID_ANNOTATION]: 'src-1', [MIRROR_OF_RV_ANNOTATION]: '100' });
    expect(ownWriteOf({ metadata: { name: 'no-uid' } })).toBeUndefined();
  });
});

describe('the conflict Event', () => {
  it('names the object, both sides and the owner version, is a Warning about the replica object, and carries none of its data', () => {
    const now = new Date('2026-12-06T01:02:03.456Z');
    const event = conflictEvent(
      { shard: 'secrets', owner: 'source', replica: 'destination', apiVersion: 'v1', kind: 'Secret', written: stored(v2, '15'), ownerResourceVersion: '200' },
      now,
    );
    expect(event).toMatchObject({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { namespace: 'apps' },
      involvedObject: { apiVersion: 'v1', kind: 'Secret', name: 'db', namespace: 'apps', uid: 'dst-1', resourceVersion: '15' },
      reason: CONFLICT_REASON,
      type: 'Warning',
      source: { component: 'cluster-bridge-synchronizer' },
      firstTimestamp: '2026-12-06T01:02:03Z',
      count: 1,
    });
    expect(event.metadata.name).toMatch(/^db\.[0-9a-f]+$/);
    expect(event.message).toBe(
      'Secret apps/db was changed in the destination cluster since the synchronizer last wrote it; the source cluster owns shard secrets, ' +
        "so that change was overwritten with the source's version (resourceVersion 200)",
    );
    const text = JSON.stringify(event);
    for (const secret of ['bmV3', 'b2xk', 'password']) expect(text).not.toContain(secret);
  });

  it('says that a deleted copy was created again, on the new copy', () => {
    const facts = { shard: 'secrets', owner: 'destination', replica: 'source', apiVersion: 'v1', kind: 'Secret', ownerResourceVersion: '200' } as const;
    const event = conflictEvent({ ...facts, written: stored(v2, '16', 'dst-2'), deleted: true });
    expect(event.involvedObject).toMatchObject({ uid: 'dst-2', resourceVersion: '16' });
    expect(event.message).toBe(
      'Secret apps/db was deleted in the source cluster since the synchronizer last wrote it; the destination cluster owns shard secrets, ' +
        "so it was created again from the destination's version (resourceVersion 200)",
    );
  });

  it('goes to the default namespace for a cluster-scoped object', () => {
    const cluster: KubeObject = { metadata: { name: 'c', uid: 'dst-c', resourceVersion: '3' } };
    const event = conflictEvent({
      shard: 'clusterroles.rbac.authorization.k8s.io',
      owner: 'destination',
      replica: 'source',
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      written: cluster,
      ownerResourceVersion: '9',
    });
    expect(event.metadata.namespace).toBe('default');
    expect(event.involvedObject).toEqual({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: 'c', uid: 'dst-c', resourceVersion: '3' });
  });
});
