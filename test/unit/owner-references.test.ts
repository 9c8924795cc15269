// Owner references across clusters: the pure decisions (lib/mirror/owner-references.ts), the copy rules with
// remapped references (lib/mirror/copy.ts), the resolver's reads (synchronizer/owner-resolver.ts) and a
// shard mirror's reconcile writing owners before dependents, over in-memory API servers.
// The lab test is test/e2e/synchronizer-owners.test.ts.
import { describe, expect, it } from '@jest/globals';
import { waitUntil } from '../../lib/wait-until.js';
import { finalizersAfterOwnerGone, replicaCopy, sameMirroredContent } from '../../lib/mirror/copy.js';
import { MIRROR_OF_UID_ANNOTATION } from '../../lib/names.js';
import { type KubeObject, type OwnerReference } from '../../lib/kube/types.js';
import { decideOwner, ownerReferencesOf, remapOwnerReferences, type OwnerDecision, type OwnerFacts } from '../../lib/mirror/owner-references.js';
import { OwnerDeferred, OwnerResolver } from '../../synchronizer/owner-resolver.js';
import { ShardMirror } from '../../synchronizer/shard-mirror.js';
import { wholeTypeScope } from '../../synchronizer/namespace-directions.js';
import { CONFIGMAPS_API, FakeCluster, quietCounters } from '../helpers/mirror-fixtures.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';

const ref = (name: string, uid: string, kind = 'ConfigMap', apiVersion = 'v1'): OwnerReference => ({ apiVersion, kind, name, uid, controller: true });
const obj = (name: string, uid: string, annotations?: Record<string, string>, extra: Partial<KubeObject['metadata']> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'apps', uid, resourceVersion: '7', ...(annotations ? { annotations } : {}), ...extra },
  data: { k: 'v' },
});
const copyOf = (uid: string) => ({ [MIRROR_OF_UID_ANNOTATION]: uid });

describe('decideOwner', () => {
  const owner = ref('parent', 'src-1');
  const cases: [string, OwnerFacts, OwnerDecision][] = [
    ['a type no mirror copies is dropped', { shard: undefined, replica: null }, { action: 'drop', reason: 'owner-not-mirrored' }],
    [
      "the replica's copy of the owner gives its UID",
      { shard: 'configmaps', replica: obj('parent', 'dst-1', copyOf('src-1')) },
      { action: 'map', uid: 'dst-1', via: 'copy-of-owner' },
    ],
    [
      'a same-named replica object not made by the mirror is never the owner',
      { shard: 'configmaps', replica: obj('parent', 'dst-9'), owner: obj('parent', 'src-1') },
      { action: 'defer', reason: 'owner-not-copied' },
    ],
    [
      "a copy of another incarnation of the owner (older UID) is not the owner's",
      { shard: 'configmaps', replica: obj('parent', 'dst-2', copyOf('src-0')), owner: obj('parent', 'src-1') },
      { action: 'defer', reason: 'owner-not-copied' },
    ],
    [
      'an owner not copied yet defers the dependent',
      { shard: 'configmaps', replica: null, owner: obj('parent', 'src-1') },
      { action: 'defer', reason: 'owner-not-copied' },
    ],
    ['an owner gone from its cluster defers the dependent', { shard: 'configmaps', replica: null, owner: null }, { action: 'defer', reason: 'owner-gone' }],
    [
      'an owner replaced by a same-named object (other UID) counts as gone',
      { shard: 'configmaps', replica: obj('parent', 'dst-1', copyOf('src-5')), owner: obj('parent', 'src-5') },
      { action: 'defer', reason: 'owner-gone' },
    ],
    [
      "an owner that is itself a copy of the replica's object (its shard mirrors the other way) maps to that object",
      { shard: 'configmaps', replica: obj('parent', 'dst-1'), owner: obj('parent', 'src-1', copyOf('dst-1')) },
      { action: 'map', uid: 'dst-1', via: 'original-of-copy' },
    ],
    [
      'an owner that is a copy of an object the replica no longer has waits',
      { shard: 'configmaps', replica: null, owner: obj('parent', 'src-1', copyOf('dst-1')) },
      { action: 'defer', reason: 'owner-not-copied' },
    ],
    [
      "a cluster's own object is never copied: dropped even if the replica has one of that name",
      { shard: 'configmaps', replica: obj('kube-root-ca.crt', 'dst-3'), owner: { ...obj('kube-root-ca.crt', 'src-1') } },
      { action: 'drop', reason: 'owner-never-copied' },
    ],
    [
      'a terminating owner without a copy waits (it is not copied, its dependents go first)',
      { shard: 'configmaps', replica: null, owner: obj('parent', 'src-1', undefined, { deletionTimestamp: '2026-11-23T00:00:00Z' }) },
      { action: 'defer', reason: 'owner-not-copied' },
    ],
  ];
  it.each(cases)('%s', (_title, facts, expected) => {
    const named = facts.owner?.metadata.name === 'kube-root-ca.crt' ? { ...owner, name: 'kube-root-ca.crt' } : owner;
    expect(decideOwner(named, facts)).toEqual(expected);
  });
});

describe('remapOwnerReferences', () => {
  it("keeps the owner's order and fields, replaces mapped UIDs, leaves dropped ones out and reports the first deferral", () => {
    const refs = [ref('a', 'src-a'), { ...ref('p', 'src-p', 'Pod'), blockOwnerDeletion: true }, ref('b', 'src-b')];
    const mapped = remapOwnerReferences(refs, [
      { action: 'map', uid: 'dst-a', via: 'copy-of-owner' },
      { action: 'drop', reason: 'owner-not-mirrored' },
      { action: 'map', uid: 'dst-b', via: 'original-of-copy' },
    ]);
    expect(mapped.references).toEqual([ref('a', 'dst-a'), ref('b', 'dst-b')]);
    expect(mapped.dropped).toEqual([{ ref: refs[1], reason: 'owner-not-mirrored' }]);
    expect(mapped.deferred).toBeUndefined();
    const waiting = remapOwnerReferences(refs, [
      { action: 'defer', reason: 'owner-gone' },
      { action: 'drop', reason: 'owner-not-mirrored' },
      { action: 'defer', reason: 'owner-not-copied' },
    ]);
    expect(waiting.deferred).toEqual({ ref: refs[0], reason: 'owner-gone' });
    expect(() => remapOwnerReferences(refs, [])).toThrow(RangeError);
  });

  it('reads only complete references', () => {
    const dependent = obj('d', 'src-d', undefined, { ownerReferences: [ref('a', 'src-a'), { kind: 'ConfigMap', name: 'x' }, null] });
    expect(ownerReferencesOf(dependent)).toEqual([ref('a', 'src-a')]);
  });
});

describe('copies with remapped owner references', () => {
  const source = obj('d', 'src-d', undefined, { ownerReferences: [ref('a', 'src-a')] });
  const remapped = [ref('a', 'dst-a')];

  it('carry only the references given, never the owner cluster UIDs', () => {
    expect(replicaCopy(source).metadata.ownerReferences).toBeUndefined();
    expect(replicaCopy(source, '12', remapped).metadata.ownerReferences).toEqual(remapped);
  });

  it('compare equal to the owner when the references are the remapped ones, and differ otherwise', () => {
    const written = {
      ...replicaCopy(source, undefined, remapped),
      metadata: { ...replicaCopy(source, undefined, remapped).metadata, uid: 'dst-d', resourceVersion: '99' },
    };
    expect(sameMirroredContent(source, written, remapped)).toBe(true);
    expect(sameMirroredContent(source, written)).toBe(false); // the reference would be removed
    expect(sameMirroredContent(source, written, [ref('a', 'dst-other')])).toBe(false);
    const withoutRefs = { ...written, metadata: { ...written.metadata, ownerReferences: undefined } };
    expect(sameMirroredContent(source, withoutRefs, remapped)).toBe(false); // the reference must be added
  });
});

describe('OwnerResolver', () => {
  it('maps to the copy with one GET per owner and pass, and never takes a same-named object the mirror did not make', async () => {
    const source = new FakeCluster('source');
    const destination = new FakeCluster('destination');
    const parent = source.add(obj('parent', 'src-p'));
    const copy = destination.add(obj('parent', 'dst-p', copyOf('src-p')));
    const resolver = new OwnerResolver(source.asSide(), destination.asSide(), new Set(['configmaps']));
    const dependent = (name: string) => obj(name, `src-${name}`, undefined, { ownerReferences: [ref('parent', parent.metadata.uid!)] });
    resolver.newPass();
    for (const name of ['d1', 'd2', 'd3']) expect((await resolver.remap(dependent(name))).references).toEqual([ref('parent', copy.metadata.uid!)]);
    expect(destination.calls).toEqual(['GET /api/v1/namespaces/apps/configmaps/parent']);
    expect(source.calls).toEqual(['GET /api/v1']); // discovery, once
    resolver.newPass();
    await resolver.remap(dependent('d4'));
    expect(destination.calls).toHaveLength(2);
    expect(source.calls).toHaveLength(1);

    // The replica's `parent` replaced behind the mirror's back: the dependent waits.
    destination.add(obj('parent', 'dst-hand'));
    resolver.newPass();
    const waiting = await resolver.remap(dependent('d5'));
    expect(waiting.deferred?.reason).toBe('owner-not-copied');
    expect(waiting.references).toEqual([]);
    expect(new OwnerDeferred('owner-not-copied', ref('parent', 'src-p'), 'apps/d5').message).toContain('waits for its owner ConfigMap parent');
  });

  it('drops references to types not mirrored and to unknown kinds, with a single discovery per API version', async () => {
    const source = new FakeCluster('source');
    const destination = new FakeCluster('destination');
    const resolver = new OwnerResolver(source.asSide(), destination.asSide(), new Set(['configmaps']));
    const dependent = obj('d', 'src-d', undefined, { ownerReferences: [ref('runner', 'src-pod', 'Pod'), ref('w', 'src-w', 'Widget', 'example.com/v1')] });
    resolver.newPass();
    const result = await resolver.remap(dependent);
    expect(result.references).toEqual([]);
    expect(result.dropped.map((d) => d.reason)).toEqual(['owner-not-mirrored', 'owner-not-mirrored']);
    expect(destination.calls).toEqual([]); // nothing to look for in the replica
    expect(source.calls).toEqual(['GET /api/v1', 'GET /apis/example.com/v1']);
  });
});

describe('ShardMirror with owner references', () => {
  const counters = () => {
    const dropped: string[] = [];
    return {
      dropped,
      written: () => undefined,
      failed: () => undefined,
      ownerReferenceDropped: (_s: string, _d: string, reason: string) => dropped.push(reason),
      conflict: () => undefined,
      lag: () => undefined,
    };
  };

  it('writes owners before dependents: a dependent listed first is written after its owner in the same pass, pointing at the copy, once', async () => {
    const source = new FakeCluster('source');
    const destination = new FakeCluster('destination');
    const parent = source.add(obj('b-parent', 'src-p'));
    source.add(obj('a-child', 'src-c', undefined, { ownerReferences: [ref('b-parent', parent.metadata.uid!), ref('runner', 'src-pod', 'Pod')] }));
    const count = counters();
    const api = { prefix: '/api/v1', resource: 'configmaps', namespaced: true };
    const mirror = new ShardMirror('configmaps', api, source.asSide(), destination.asSide(), count, silentLog);
    try {
      await mirror.reconcile();
      expect(destination.get('b-parent')?.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION]).toBe('src-p');
      const posts = destination.calls.filter((c) => c.startsWith('POST'));
      expect(posts).toEqual(['POST /api/v1/namespaces/apps/configmaps', 'POST /api/v1/namespaces/apps/configmaps']);
      expect(mirror.progress()).toMatchObject({ total: 2, done: 2, errors: {} });
      const child = destination.get('a-child');
      expect(child?.metadata.ownerReferences).toEqual([ref('b-parent', destination.get('b-parent')!.metadata.uid!)]);
      expect(count.dropped).toEqual(['owner-not-mirrored']); // the Pod: not mirrored
      expect(mirror.progress()).toMatchObject({ total: 2, done: 2 });

      // A correctly remapped copy is equal: another pass writes nothing.
      const writes = destination.calls.filter((c) => !c.startsWith('GET')).length;
      await mirror.reconcile();
      expect(destination.calls.filter((c) => !c.startsWith('GET')).length).toBe(writes);
      expect(destination.get('a-child')?.metadata.resourceVersion).toBe(child?.metadata.resourceVersion);
    } finally {
      mirror.stop();
    }
  });

  it("deletes a copy the way the owner's object was deleted: Orphan when it carried the orphan finalizer, else the default", async () => {
    const source = new FakeCluster('source');
    const destination = new FakeCluster('destination');
    const kept = source.add(obj('kept-deps', 'src-k'));
    const cascaded = source.add(obj('cascaded', 'src-c'));
    const api = { prefix: '/api/v1', resource: 'configmaps', namespaced: true };
    const mirror = new ShardMirror('configmaps', api, source.asSide(), destination.asSide(), counters(), silentLog);
    try {
      mirror.start();
      await waitUntil('the watch', () => source.watches.length === 1);
      const event = (type: string, o: KubeObject) => source.watches[0]!.write(`${JSON.stringify({ type, object: o })}\n`);
      const terminating = { ...kept, metadata: { ...kept.metadata, deletionTimestamp: '2026-11-23T00:00:00Z', finalizers: ['orphan'] } };
      event('MODIFIED', terminating);
      event('DELETED', { ...terminating, metadata: { ...terminating.metadata, finalizers: [] } });
      event('DELETED', cascaded);
      await waitUntil('both deletes', () => destination.deleteBodies.length === 2);
      expect(destination.deleteBodies).toEqual([
        expect.objectContaining({ propagationPolicy: 'Orphan' }),
        expect.not.objectContaining({ propagationPolicy: expect.anything() }),
      ]);
      expect(destination.get('kept-deps')).toBeUndefined();
    } finally {
      mirror.stop();
    }
  });

  it("deletes a copy whose owner object is gone without the owner's finalizers (done there), keeping the replica collector's own", async () => {
    const source = new FakeCluster('source');
    const destination = new FakeCluster('destination');
    const owned = source.add(obj('guarded', 'src-g', undefined, { finalizers: ['example.com/cleanup'] }));
    const api = { prefix: '/api/v1', resource: 'configmaps', namespaced: true };
    const mirror = new ShardMirror('configmaps', api, source.asSide(), destination.asSide(), counters(), silentLog);
    const writes: string[] = [];
    const request = destination.request;
    destination.request = async <T>(method: string, path: string, body?: unknown) => {
      if (method === 'PUT') writes.push(`PUT ${JSON.stringify((body as KubeObject).metadata.finalizers)}`);
      if (method === 'DELETE') writes.push('DELETE');
      return request<T>(method, path, body);
    };
    try {
      mirror.start();
      await waitUntil('the watch', () => source.watches.length === 1);
      const copy = destination.get('guarded')!;
      expect(copy.metadata.finalizers).toEqual(['example.com/cleanup']);
      // The replica's collector already deletes the copy in the foreground (its dependents' copies first).
      destination.objects.set(`/api/v1/namespaces/apps/configmaps/guarded`, {
        ...copy,
        metadata: { ...copy.metadata, deletionTimestamp: '2026-12-06T00:00:00Z', finalizers: ['example.com/cleanup', 'foregroundDeletion'] },
      });
      const event = (type: string, o: KubeObject) => source.watches[0]!.write(`${JSON.stringify({ type, object: o })}\n`);
      const terminating = { ...owned, metadata: { ...owned.metadata, deletionTimestamp: '2026-12-06T00:00:00Z' } };
      event('MODIFIED', terminating);
      event('DELETED', { ...terminating, metadata: { ...terminating.metadata, finalizers: [] } });
      await waitUntil('the delete', () => writes.includes('DELETE'));
      expect(writes).toEqual(['PUT ["foregroundDeletion"]', 'DELETE']);
    } finally {
      mirror.stop();
    }
  });
});

describe('ShardMirror turned around by a hand-off', () => {
  it.each([
    ['remembers what the old owner had, and deletes what the new owner deleted before it watched', true, false],
    ['without that memory, leaves an original object the new owner no longer has (it would come back with the next move)', false, true],
  ])('%s', async (_what, inherit, kept) => {
    const source = new FakeCluster('source');
    const destination = new FakeCluster('destination');
    source.add(obj('early', 'src-e'));
    source.add(obj('stays', 'src-s'));
    const before = new ShardMirror('configmaps', CONFIGMAPS_API, source.asSide(), destination.asSide(), quietCounters, silentLog);
    await before.reconcile();
    before.stop();
    // The hand-off moved the shard to the destination, which deleted `early` before the new mirror listed.
    destination.objects.delete('/api/v1/namespaces/apps/configmaps/early');
    const after = new ShardMirror('configmaps', CONFIGMAPS_API, destination.asSide(), source.asSide(), quietCounters, silentLog);
    if (inherit) after.inheritOwnerKeys(before);
    try {
      await after.reconcile();
      expect(source.get('early') !== undefined).toBe(kept);
      expect(source.get('stays')?.metadata.uid).toBe('src-s');
    } finally {
      after.stop();
    }
  });

  it('deletes, without that memory (a restarted synchronizer), a source original unchanged since the source handed the shard over that the destination no longer has', async () => {
    const source = new FakeCluster('source');
    const destination = new FakeCluster('destination');
    const before = source.add(obj('deleted-since', 'src-d'));
    const handedOverAt = BigInt(before.metadata.resourceVersion!);
    destination.add(obj('kept', 'dst-k'));
    source.add(obj('kept', 'src-k'));
    const changedSince = source.add(obj('changed-since', 'src-c'));
    expect(BigInt(changedSince.metadata.resourceVersion!)).toBeGreaterThan(handedOverAt);
    const mirror = new ShardMirror('configmaps', CONFIGMAPS_API, destination.asSide(), source.asSide(), quietCounters, silentLog);
    mirror.scope = wholeTypeScope({ handedOverAtReplicaRV: handedOverAt });
    try {
      await mirror.reconcile();
      expect([source.get('deleted-since'), source.get('kept')?.metadata.uid, source.get('changed-since')?.metadata.uid]).toEqual([undefined, 'src-k', 'src-c']);
    } finally {
      mirror.stop();
    }
  });

  it('does not count an object the old mirror never got across as on the new owner: the new owner lacks it, but never had it to delete', async () => {
    const source = new FakeCluster('source');
    const destination = new FakeCluster('destination');
    source.add(obj('refused', 'src-r'));
    destination.refusedNames.add('refused');
    const before = new ShardMirror('configmaps', CONFIGMAPS_API, source.asSide(), destination.asSide(), quietCounters, silentLog);
    await before.reconcile();
    before.stop();
    expect(before.progress()).toMatchObject({ total: 1, done: 0 });
    const after = new ShardMirror('configmaps', CONFIGMAPS_API, destination.asSide(), source.asSide(), quietCounters, silentLog);
    after.inheritOwnerKeys(before);
    try {
      await after.reconcile();
      expect(source.get('refused')?.metadata.uid).toBe('src-r');
    } finally {
      after.stop();
    }
  });
});

describe('ShardMirror and a source-first create in progress', () => {
  it("never copies the aggregator's source object before the synchronizer adopted it (the aggregator writes the destination's itself)", async () => {
    const source = new FakeCluster('source');
    const destination = new FakeCluster('destination');
    source.add(obj('pending', 'src-p', { [MIRROR_OF_UID_ANNOTATION]: '' }));
    source.add(obj('plain', 'src-x'));
    const mirror = new ShardMirror('configmaps', CONFIGMAPS_API, source.asSide(), destination.asSide(), quietCounters, silentLog);
    try {
      await mirror.reconcile();
      expect([destination.get('pending'), destination.get('plain')?.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION]]).toEqual([undefined, 'src-x']);
    } finally {
      mirror.stop();
    }
  });

  it("adopts the aggregator's source object when the destination's create reaches it, even with equal content (the mark would otherwise stay for ever)", async () => {
    const source = new FakeCluster('source');
    const destination = new FakeCluster('destination');
    source.add(obj('made-source-first', 'src-m', { [MIRROR_OF_UID_ANNOTATION]: '' }));
    destination.add(obj('made-source-first', 'dst-m'));
    const mirror = new ShardMirror('configmaps', CONFIGMAPS_API, destination.asSide(), source.asSide(), quietCounters, silentLog);
    try {
      await mirror.reconcile();
      const adopted = source.get('made-source-first')!;
      expect([adopted.metadata.uid, adopted.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION]]).toEqual(['src-m', 'dst-m']);
    } finally {
      mirror.stop();
    }
  });

  it('mirrors a marked object as an original once the source owns the shard again with no hand-off running (its adoption was lost)', async () => {
    const source = new FakeCluster('source');
    const destination = new FakeCluster('destination');
    source.add(obj('orphaned-mark', 'src-o', { [MIRROR_OF_UID_ANNOTATION]: '' }));
    const mirror = new ShardMirror('configmaps', CONFIGMAPS_API, source.asSide(), destination.asSide(), quietCounters, silentLog);
    mirror.scope = wholeTypeScope({ sourceFirstMarksStale: true });
    try {
      await mirror.reconcile();
      expect(destination.get('orphaned-mark')?.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION]).toBe('src-o');
    } finally {
      mirror.stop();
    }
  });
});

describe('finalizersAfterOwnerGone', () => {
  it.each([
    { finalizers: undefined, after: undefined },
    { finalizers: ['orphan'], after: undefined },
    { finalizers: ['foregroundDeletion'], after: undefined },
    { finalizers: ['example.com/cleanup'], after: [] },
    { finalizers: ['kubernetes.io/pvc-protection', 'orphan'], after: ['orphan'] },
  ])('a copy with finalizers $finalizers keeps $after', ({ finalizers, after }) => {
    expect(finalizersAfterOwnerGone(obj('c', 'dst-c', undefined, finalizers ? { finalizers } : {}))).toEqual(after);
  });
});
