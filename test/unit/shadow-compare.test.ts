// Shadow-read comparison (aggregator/request/shadow-compare.ts): what legitimately differs between the two
// clusters' answers is ignored, the rest is reported by field path, never by value. The lab test
// (test/e2e/rollout.test.ts) runs it behind the real aggregator.
import { describe, expect, it } from '@jest/globals';
import { answerFingerprint, compareAnswers } from '../../aggregator/request/shadow-compare.js';
import { jsonReadHeaders, shadowPath } from '../../aggregator/request/shadow-reads.js';

const configMap = (name: string, data: Record<string, string>, cluster: 'a' | 'b') => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: {
    name,
    namespace: 'apps',
    uid: `${cluster}-uid-${name}`,
    resourceVersion: cluster === 'a' ? '100' : '9000',
    creationTimestamp: cluster === 'a' ? '2026-11-22T10:00:00Z' : '2026-11-22T10:00:01Z',
    managedFields: [{ manager: cluster === 'a' ? 'kubectl' : 'cluster-bridge' }],
    annotations: cluster === 'b' ? { 'cluster-bridge.io/mirror-of-uid': `a-uid-${name}`, 'cluster-bridge.io/mirror-of-resource-version': '100' } : undefined,
  },
  data,
});
const ok = (body: unknown) => ({ status: 200, body });
const list = (...items: unknown[]) => ({ kind: 'ConfigMapList', metadata: { resourceVersion: String(items.length) }, items });

describe('compareAnswers', () => {
  it('ignores server metadata and the mirror annotations, and reports differing fields by path', () => {
    expect(compareAnswers('configmaps', ok(configMap('c', { k: 'v' }, 'a')), ok(configMap('c', { k: 'v' }, 'b')))).toEqual([]);
    const paths = compareAnswers(
      'configmaps',
      ok(configMap('c', { k: 'v', same: '1' }, 'a')),
      ok(configMap('c', { k: 'secret!', extra: 'x', same: '1' }, 'b')),
    );
    expect(paths).toEqual(['data.extra', 'data.k']);
    expect(paths.join()).not.toContain('secret!');
  });

  it('compares lists item by item by name, whatever the order, without each cluster’s own objects', () => {
    const rootCa = (cluster: 'a' | 'b') => configMap('kube-root-ca.crt', { 'ca.crt': `${cluster}-ca` }, cluster);
    const a = list(rootCa('a'), configMap('x', { i: '1' }, 'a'), configMap('y', { i: '2' }, 'a'));
    const b = list(configMap('y', { i: '2' }, 'b'), configMap('x', { i: '1' }, 'b'), rootCa('b'));
    expect(compareAnswers('configmaps', ok(a), ok(b))).toEqual([]);
    const missing = list(configMap('x', { i: '1' }, 'b'));
    expect(compareAnswers('configmaps', ok(a), ok(missing))).toEqual(['items[apps/y]']);
    const changed = list(configMap('x', { i: '1' }, 'b'), configMap('y', { i: '3' }, 'b'));
    expect(compareAnswers('configmaps', ok(a), ok(changed))).toEqual(['items[apps/y].data.i']);
  });

  it('counts a different status as a divergence and two 404s as agreement', () => {
    expect(compareAnswers('configmaps', ok(configMap('c', {}, 'a')), { status: 404, body: {} })).toEqual(['(status) 200 vs 404']);
    expect(compareAnswers('configmaps', { status: 404, body: { reason: 'a' } }, { status: 404, body: { reason: 'b' } })).toEqual([]);
  });

  it('fingerprints what is compared, so a source that changed between two reads is told apart', () => {
    expect(answerFingerprint('configmaps', ok(configMap('c', { k: 'v' }, 'a')))).toBe(answerFingerprint('configmaps', ok(configMap('c', { k: 'v' }, 'b'))));
    expect(answerFingerprint('configmaps', ok(configMap('c', { k: 'v' }, 'a')))).not.toBe(answerFingerprint('configmaps', ok(configMap('c', { k: 'w' }, 'a'))));
  });
});

describe('shadow requests', () => {
  it('read both clusters at their latest state, in plain JSON, and never follow a continue token', () => {
    expect(shadowPath('/api/v1/namespaces/a/configmaps?limit=5&resourceVersion=123&resourceVersionMatch=NotOlderThan')).toBe(
      '/api/v1/namespaces/a/configmaps?limit=5',
    );
    expect(shadowPath('/api/v1/namespaces/a/configmaps/c')).toBe('/api/v1/namespaces/a/configmaps/c');
    expect(shadowPath('/api/v1/configmaps?limit=5&continue=abc')).toBeUndefined();
    expect(jsonReadHeaders(['Accept', 'application/vnd.kubernetes.protobuf', 'Accept-Encoding', 'gzip', 'User-Agent', 'kubectl'])).toEqual([
      'User-Agent',
      'kubectl',
      'Accept',
      'application/json',
    ]);
  });
});
