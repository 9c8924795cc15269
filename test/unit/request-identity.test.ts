import { describe, expect, it } from '@jest/globals';
import { MIRROR_OF_RV_ANNOTATION, MIRROR_OF_UID_ANNOTATION, ORIGINAL_UID_ANNOTATION } from '../../lib/names.js';
import { type KubeObject } from '../../lib/kube/types.js';
import { bodyKindOf, bridgeAnnotationEdits, presentedTargetUids, reversed, rewriteRequestIdentity, targetUidMap } from '../../lib/routing/request-identity.js';

const MARKS = { [MIRROR_OF_UID_ANNOTATION]: 'uid-source', [MIRROR_OF_RV_ANNOTATION]: '7', [ORIGINAL_UID_ANNOTATION]: 'uid-source' };
/** The destination's copy of a source original, as stored. */
const stored: KubeObject = {
  kind: 'ConfigMap',
  metadata: { name: 'app', namespace: 'apps', uid: 'uid-dest', resourceVersion: '40', annotations: { team: 'a', ...MARKS } },
};

describe('bodyKindOf', () => {
  it.each([
    ['create', 'application/json', 'object'],
    ['update', 'application/json; charset=utf-8', 'object'],
    ['patch', 'application/merge-patch+json', 'merge-patch'],
    ['patch', 'application/strategic-merge-patch+json', 'merge-patch'],
    ['patch', 'application/json-patch+json', 'json-patch'],
    ['patch', 'application/apply-patch+yaml', 'object'],
    ['create', 'application/vnd.kubernetes.protobuf', undefined],
    ['delete', 'application/json', undefined],
  ])('%s %s: %s', (verb, type, kind) => expect(bodyKindOf(verb, type)).toBe(kind));
});

describe('bridgeAnnotationEdits (issue 21)', () => {
  const withAnnotations = (annotations: Record<string, string | null>) => ({ metadata: { name: 'app', annotations } });

  it('a create may set none', () => {
    expect(bridgeAnnotationEdits(withAnnotations({ team: 'a', [MIRROR_OF_UID_ANNOTATION]: 'x' }), 'object')).toEqual([MIRROR_OF_UID_ANNOTATION]);
    expect(bridgeAnnotationEdits(withAnnotations({ team: 'a' }), 'object')).toEqual([]);
  });

  it('an update may repeat the stored marks, not change them', () => {
    expect(bridgeAnnotationEdits(withAnnotations({ ...MARKS }), 'object', stored)).toEqual([]);
    expect(bridgeAnnotationEdits(withAnnotations({ ...MARKS, [ORIGINAL_UID_ANNOTATION]: 'forged' }), 'object', stored)).toEqual([ORIGINAL_UID_ANNOTATION]);
  });

  it('a merge patch may not name them, not even to remove them', () => {
    expect(bridgeAnnotationEdits(withAnnotations({ [MIRROR_OF_UID_ANNOTATION]: null }), 'merge-patch')).toEqual([MIRROR_OF_UID_ANNOTATION]);
    expect(bridgeAnnotationEdits(withAnnotations({ team: null }), 'merge-patch')).toEqual([]);
  });

  it('a JSON patch may not address them, escaped or not (a test op is harmless)', () => {
    const ops = [
      { op: 'add', path: '/metadata/annotations/cluster-bridge.io~1original-uid', value: 'x' },
      { op: 'test', path: '/metadata/annotations/cluster-bridge.io~1mirror-of-uid', value: 'x' },
      { op: 'move', from: '/metadata/annotations/cluster-bridge.io~1mirror-of-resource-version', path: '/metadata/annotations/a' },
      { op: 'replace', path: '/metadata/annotations/team', value: 'b' },
    ];
    expect(bridgeAnnotationEdits(ops, 'json-patch')).toEqual([ORIGINAL_UID_ANNOTATION, MIRROR_OF_RV_ANNOTATION]);
  });
});

describe('UIDs a client presents', () => {
  it('are the original uid, mapped to the backend object only when it shows that identity', () => {
    const uids = targetUidMap(stored);
    expect([...uids]).toEqual([['uid-source', 'uid-dest']]);
    const matching = { kind: 'DeleteOptions', preconditions: { uid: 'uid-source' } };
    expect(presentedTargetUids(matching)).toEqual(['uid-source']);
    expect(rewriteRequestIdentity(matching, uids)).toBe(true);
    expect(matching.preconditions.uid).toBe('uid-dest');
    // Never dropped: a wrong UID goes on as presented, for the backend's own 409.
    const wrong = { kind: 'DeleteOptions', preconditions: { uid: 'uid-other' } };
    expect(rewriteRequestIdentity(wrong, uids)).toBe(false);
    expect(wrong.preconditions.uid).toBe('uid-other');
    expect([...reversed(uids)]).toEqual([['uid-dest', 'uid-source']]);
  });

  it('an original has nothing to map', () => {
    expect(targetUidMap({ metadata: { name: 'a', uid: 'u' } }).size).toBe(0);
    expect(targetUidMap(undefined).size).toBe(0);
  });
});

describe('an update replaces annotations: the stored marks are put back', () => {
  it('with the body metadata.uid mapped', () => {
    const body = { kind: 'ConfigMap', metadata: { name: 'app', uid: 'uid-source', resourceVersion: '40', annotations: { team: 'b' } }, data: {} };
    expect(rewriteRequestIdentity(body, targetUidMap(stored), stored)).toBe(true);
    expect(body.metadata.uid).toBe('uid-dest');
    expect(body.metadata.annotations).toEqual({ team: 'b', ...MARKS });
  });

  it('an unconditional update is pinned to the object the marks were read from', () => {
    const body: { metadata: Record<string, unknown> } = { metadata: { name: 'app' } };
    rewriteRequestIdentity(body, new Map(), stored);
    expect(body.metadata).toEqual({ name: 'app', uid: 'uid-dest', annotations: MARKS });
  });
});
