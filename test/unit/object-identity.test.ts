import { Readable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { replicaCopy, sameMirroredContent } from '../../lib/mirror/copy.js';
import { BRIDGE_ANNOTATIONS, originalIdentity, presentOriginalIdentity, presentStatusUids } from '../../lib/routing/object-identity.js';
import { MIRROR_OF_UID_ANNOTATION, ORIGINAL_CREATION_TIMESTAMP_ANNOTATION, ORIGINAL_UID_ANNOTATION, SYNCHRONIZER_FIELD_MANAGER } from '../../lib/names.js';
import { type KubeObject } from '../../lib/kube/types.js';
import { movedShardSteps, rewriteJsonBody } from '../../lib/routing/rewritten-response.js';
import { beginHandoff, completeHandoff, emptyRoutingTable, shardState } from '../../lib/routing/routing-table.js';
import { responseRVMapper, ShardRVCodec } from '../../lib/routing/resource-version.js';
import { WatchRVRewriter } from '../../lib/routing/watch-rewriter.js';

const NOW = new Date('2026-12-07T00:00:00Z');
const T_SOURCE = '2026-12-01T10:00:00Z';
const T_DEST = '2026-12-05T10:00:00Z';

/** What an API server stores for `obj` written as a new object: its own uid, resourceVersion and creationTimestamp. */
const storedAs = (obj: KubeObject, uid: string, creationTimestamp: string, rv = '10'): KubeObject => ({
  ...obj,
  metadata: { ...obj.metadata, uid, resourceVersion: rv, creationTimestamp },
});

const original: KubeObject = storedAs(
  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app', namespace: 'apps', annotations: { team: 'a' } }, data: { k: 'v' } },
  'uid-source',
  T_SOURCE,
);

describe('the original identity travels with every copy', () => {
  it('a copy, and the copy of that copy written back after a move back, show the source original', () => {
    const destCopy = storedAs(replicaCopy(original), 'uid-dest', T_DEST);
    expect(originalIdentity(destCopy)).toEqual({ uid: 'uid-source', creationTimestamp: T_SOURCE });
    // The destination owned it and wrote the source's object: its mirror-of-uid now names the destination's copy.
    const backOnSource = storedAs(replicaCopy(destCopy, '10', [], original), 'uid-source', T_SOURCE, '20');
    expect(backOnSource.metadata.annotations![MIRROR_OF_UID_ANNOTATION]).toBe('uid-dest');
    expect(originalIdentity(backOnSource)).toEqual({ uid: 'uid-source', creationTimestamp: T_SOURCE });
  });

  it('an original needs no mark to equal its copy, a copy without the mark is written again', () => {
    const destCopy = storedAs(replicaCopy(original), 'uid-dest', T_DEST);
    // Turned around: the destination's copy is the owner, the unmarked source original the replica.
    expect(sameMirroredContent(destCopy, original)).toBe(true);
    const annotations = { ...destCopy.metadata.annotations };
    delete annotations[ORIGINAL_UID_ANNOTATION];
    delete annotations[ORIGINAL_CREATION_TIMESTAMP_ANNOTATION];
    const unmarkedCopy = { ...destCopy, metadata: { ...destCopy.metadata, annotations } };
    expect(sameMirroredContent(original, unmarkedCopy)).toBe(false);
    expect(sameMirroredContent(original, destCopy)).toBe(true);
  });
});

/** The destination's copy as a client would get it from the destination. */
function servedCopy(): KubeObject {
  const copy = storedAs(replicaCopy(original), 'uid-dest', T_DEST);
  copy.metadata.managedFields = [
    { manager: SYNCHRONIZER_FIELD_MANAGER, operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1' },
    { manager: 'kubectl-edit', operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1' },
  ];
  return copy;
}

describe('presentOriginalIdentity', () => {
  it('an object: the original UID and creationTimestamp, no bridge annotation, no synchronizer field manager', () => {
    const obj = servedCopy();
    const uids = new Map<string, string>();
    presentOriginalIdentity(obj, uids);
    expect(obj.metadata.uid).toBe('uid-source');
    expect(obj.metadata.creationTimestamp).toBe(T_SOURCE);
    expect(obj.metadata.annotations).toEqual({ team: 'a' });
    expect((obj.metadata.managedFields as { manager: string }[]).map((m) => m.manager)).toEqual(['kubectl-edit']);
    expect([...uids]).toEqual([['uid-dest', 'uid-source']]);
  });

  it('drops annotations and managedFields that only held the bridge (kube-apiserver omits them empty)', () => {
    const obj = servedCopy();
    obj.metadata.annotations = Object.fromEntries(Object.entries(obj.metadata.annotations!).filter(([k]) => BRIDGE_ANNOTATIONS.has(k)));
    obj.metadata.managedFields = [{ manager: SYNCHRONIZER_FIELD_MANAGER }];
    presentOriginalIdentity(obj);
    expect('annotations' in obj.metadata).toBe(false);
    expect('managedFields' in obj.metadata).toBe(false);
  });

  it('lists, Tables and watch events', () => {
    const list = { kind: 'ConfigMapList', metadata: {}, items: [servedCopy(), structuredClone(original)] };
    presentOriginalIdentity(list);
    expect(list.items.map((i) => i.metadata.uid)).toEqual(['uid-source', 'uid-source']);
    const table = { kind: 'Table', rows: [{ cells: [], object: { kind: 'PartialObjectMetadata', metadata: servedCopy().metadata } }] };
    presentOriginalIdentity(table);
    expect(table.rows[0]!.object.metadata.uid).toBe('uid-source');
    const event = { type: 'MODIFIED', object: servedCopy() };
    presentOriginalIdentity(event);
    expect(event.object.metadata.uid).toBe('uid-source');
  });

  it('leaves an original alone', () => {
    const obj = structuredClone(original);
    presentOriginalIdentity(obj);
    expect(obj).toEqual(original);
  });

  it("a precondition's Status names the UID the client was shown", () => {
    const status = { kind: 'Status', message: 'Precondition failed: UID in precondition: x, UID in object meta: uid-dest' };
    presentStatusUids(status, new Map([['uid-dest', 'uid-source']]));
    expect(status.message).toBe('Precondition failed: UID in precondition: x, UID in object meta: uid-source');
  });
});

describe('moved shard answers', () => {
  const table = completeHandoff(beginHandoff(emptyRoutingTable(), 'configmaps', 'destination', NOW), 'configmaps', '5000', NOW);
  const codec = new ShardRVCodec(shardState(table, 'configmaps'));

  it('keep the trailing newline and Go escaping, RVs and identity both presented', () => {
    const body = Buffer.from(`${JSON.stringify({ ...servedCopy(), data: { html: '<a&b>' } })}\n`);
    const text = rewriteJsonBody(body, movedShardSteps(codec))!.toString();
    expect(text.endsWith('}\n')).toBe(true);
    expect(text).toContain('"html":"\\u003ca\\u0026b\\u003e"');
    const parsed = JSON.parse(text) as KubeObject;
    expect(parsed.metadata.resourceVersion).toBe(codec.present('10'));
    expect(parsed.metadata.uid).toBe('uid-source');
  });

  it('a body without a newline gets none', () => {
    expect(rewriteJsonBody(Buffer.from('{"kind":"Status"}'), movedShardSteps(codec))!.toString()).toBe('{"kind":"Status"}');
  });

  it('watch events show the original identity', async () => {
    const stream = Readable.from([Buffer.from(`${JSON.stringify({ type: 'ADDED', object: servedCopy() })}\n`)]).pipe(
      new WatchRVRewriter(responseRVMapper(codec)),
    );
    let out = '';
    for await (const chunk of stream) out += String(chunk);
    const event = JSON.parse(out) as { object: KubeObject };
    expect(event.object.metadata.uid).toBe('uid-source');
    expect(event.object.metadata.annotations).toEqual({ team: 'a' });
  });
});
