// The protobuf side of one identity per object (lib/routing/protobuf-identity.ts) on bodies client-go
// v0.36.3 writes itself (test/helpers/go/protobuf-bodies): what it reads feeds request-identity.ts's
// decisions, and the rewritten bytes are decoded by the API server's own protobuf serializer.
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { KubeObject } from '../../lib/kube/types.js';
import { readProtobufIdentity, rewriteProtobufIdentity } from '../../lib/routing/protobuf-identity.js';
import { bridgeAnnotationEdits, presentedTargetUids, targetUidMap } from '../../lib/routing/request-identity.js';
import { clientGoFixtures, goDecode, type GoDecoded, type ProtobufFixture } from '../helpers/protobuf-bodies.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ORIGINAL = '5d8f1f8e-3c55-4d0e-9a43-4e1f3a6f0b21';
const BACKEND = 'bbbbbbbb-0000-4000-8000-000000000002';
const MARKS = {
  'cluster-bridge.io/mirror-of-uid': ORIGINAL,
  'cluster-bridge.io/mirror-of-resource-version': '4711',
  'cluster-bridge.io/original-uid': ORIGINAL,
  'cluster-bridge.io/original-creation-timestamp': '2026-11-01T10:00:00Z',
};
/** The destination's copy of the ConfigMap the fixtures update: its own UID, the original's in the marks. */
const stored: KubeObject = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'settings', namespace: 'apps', uid: BACKEND, annotations: { ...MARKS, note: 'old' } },
};
const uids = targetUidMap(stored);

describe('protobuf request identity (client-go v0.36.3 bytes)', () => {
  let fixtures: Record<ProtobufFixture, Buffer>;
  let original: Record<string, GoDecoded>;
  let decoded: Record<string, GoDecoded>;
  let rewritten: Record<string, Buffer>;

  beforeAll(() => {
    fixtures = clientGoFixtures();
    const owners = new Map([[ORIGINAL, BACKEND]]);
    rewritten = {
      update: rewriteProtobufIdentity(fixtures['configmap-update'], readProtobufIdentity(fixtures['configmap-update']), uids, stored),
      delete: rewriteProtobufIdentity(fixtures['configmap-delete'], readProtobufIdentity(fixtures['configmap-delete']), uids),
      owned: rewriteProtobufIdentity(fixtures['secret-create-owned'], readProtobufIdentity(fixtures['secret-create-owned']), owners),
      // Past the refusal (a test of the decoder only): the stored mark is appended after the client's own entry.
      marked: rewriteProtobufIdentity(fixtures['configmap-update-marked'], readProtobufIdentity(fixtures['configmap-update-marked']), uids, stored),
    };
    original = goDecode(fixtures);
    decoded = goDecode(rewritten);
  }, 600_000);

  it('reads what the decisions need, as a JSON body shows it', () => {
    expect(readProtobufIdentity(fixtures['configmap-update'])).toEqual({
      kind: 'ConfigMap',
      metadata: { name: 'settings', uid: ORIGINAL, resourceVersion: '1000000123', annotations: { note: 'resourceVersion 1000000123 in an annotation stays' } },
    });
    expect(readProtobufIdentity(fixtures['configmap-delete'])).toEqual({ kind: 'DeleteOptions', preconditions: { uid: ORIGINAL } });
    expect(readProtobufIdentity(fixtures['configmap-delete-plain'])).toEqual({ kind: 'DeleteOptions' });
    expect(readProtobufIdentity(fixtures['secret-create-owned']).metadata!.ownerReferences).toEqual([
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'settings', uid: ORIGINAL },
      { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: '0b7c2e3a-1111-4a2b-8c3d-9e8f7a6b5c4d' },
    ]);
    expect(presentedTargetUids(readProtobufIdentity(fixtures['configmap-delete']))).toEqual([ORIGINAL]);
    expect(presentedTargetUids(readProtobufIdentity(fixtures['configmap-update']))).toEqual([ORIGINAL]);
  });

  it("refuses a client's own value of a bridge annotation; a value equal to the stored one is no edit", () => {
    const marked = readProtobufIdentity(fixtures['configmap-update-marked']);
    expect(bridgeAnnotationEdits(marked, 'object', stored)).toEqual(['cluster-bridge.io/original-uid']);
    expect(bridgeAnnotationEdits(marked, 'object')).toEqual(['cluster-bridge.io/original-uid']);
    const same = { ...stored, metadata: { ...stored.metadata, annotations: { 'cluster-bridge.io/original-uid': 'a-client-value' } } };
    expect(bridgeAnnotationEdits(marked, 'object', same)).toEqual([]);
    expect(bridgeAnnotationEdits(readProtobufIdentity(fixtures['configmap-update']), 'object', stored)).toEqual([]);
  });

  it('an update: the UID mapped, the marks put back, every other field as the client sent it', () => {
    const expected = structuredClone(original['configmap-update']!.object) as Json;
    expected.metadata.uid = BACKEND;
    expected.metadata.annotations = { ...expected.metadata.annotations, ...MARKS };
    expect(decoded.update!.object).toEqual(expected);
  });

  it("Go's decoder keeps the last entry of a map key sent twice: the appended mark wins over the client's entry", () => {
    const object = decoded.marked!.object as Json;
    expect(object.metadata.annotations).toEqual({ ...MARKS, note: 'kept' });
    // The update carried neither a resourceVersion nor a UID: it is pinned to the stored object's UID.
    expect(object.metadata.uid).toBe(BACKEND);
    expect(object.data).toEqual({ mode: 'slow' });
  });

  it("a delete's UID precondition mapped, in exactly the bytes client-go would write", () => {
    const expected = structuredClone(original['configmap-delete']!.object) as Json;
    expected.preconditions.uid = BACKEND;
    expect(decoded.delete!.object).toEqual(expected);
    expect(decoded.delete!.reencoded.equals(rewritten.delete!)).toBe(true);
  });

  it("a create's ownerReferences: the owner with a copy on the backend mapped, the other as presented", () => {
    const expected = structuredClone(original['secret-create-owned']!.object) as Json;
    expected.metadata.ownerReferences[0].uid = BACKEND;
    expect(decoded.owned!.object).toEqual(expected);
    expect(decoded.owned!.reencoded.equals(rewritten.owned!)).toBe(true);
  });

  it('keeps a body with nothing to change (the same buffer)', () => {
    for (const name of Object.keys(fixtures) as ProtobufFixture[]) {
      const body = fixtures[name];
      expect([name, rewriteProtobufIdentity(body, readProtobufIdentity(body), new Map())]).toEqual([name, body]);
    }
  });
});
