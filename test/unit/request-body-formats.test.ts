// rewriteRequestBody for every body format kube-apiserver accepts: JSON objects, lists, DeleteOptions,
// merge and strategic merge patches, JSON patch operations, YAML (byte for byte outside the RVs), and
// the 415 for CBOR and unknown formats.
import { describe, expect, it } from '@jest/globals';
import { bodyFormat, rewriteRequestBody, unsupportedMediaTypeMessage } from '../../lib/routing/request-rewrite.js';
import { requestRVMapper, ShardRVCodec } from '../../lib/routing/resource-version.js';
import { beginHandoff, completeHandoff, emptyRoutingTable, shardState } from '../../lib/routing/routing-table.js';

const NOW = new Date('2026-11-22T12:00:00Z');
const codec = new ShardRVCodec(
  shardState(completeHandoff(beginHandoff(emptyRoutingTable(), 'configmaps', 'destination', NOW), 'configmaps', '5000', NOW), 'configmaps'),
);
const presented = codec.present('42');
const presentedList = codec.present('77');
const stale = '4000'; // epoch 0: before the move
const backend = (rv: string) => requestRVMapper(codec)(rv);

function rewrite(body: string, contentType: string | undefined, verb = 'update') {
  const out = rewriteRequestBody(Buffer.from(body), contentType, codec, verb);
  return out.ok ? { ok: true as const, text: out.body.toString() } : out;
}

describe('bodyFormat', () => {
  it.each([
    [undefined, 'json'],
    ['', 'json'],
    ['application/json', 'json'],
    ['Application/JSON; charset=utf-8', 'json'],
    ['application/merge-patch+json', 'json'],
    ['application/strategic-merge-patch+json', 'json'],
    ['application/json-patch+json', 'json'],
    ['application/yaml', 'yaml'],
    ['application/apply-patch+yaml', 'yaml'],
    ['application/vnd.kubernetes.protobuf', 'protobuf'],
    ['application/cbor', 'cbor'],
    ['application/apply-patch+cbor', 'cbor'],
    ['text/plain', 'other'],
    ['application/octet-stream', 'other'],
  ])('%s is %s', (contentType, format) => expect(bodyFormat(contentType)).toBe(format));
});

describe('rewriteRequestBody', () => {
  it('JSON: an object, with no Content-Type too (kube-apiserver reads it as JSON)', () => {
    const body = JSON.stringify({ kind: 'ConfigMap', metadata: { name: 'a', resourceVersion: presented }, data: { resourceVersion: presented } });
    for (const contentType of ['application/json', undefined]) {
      const out = rewrite(body, contentType);
      expect(out.ok && JSON.parse(out.text)).toEqual({
        kind: 'ConfigMap',
        metadata: { name: 'a', resourceVersion: '42' },
        data: { resourceVersion: presented },
      });
    }
  });

  it('JSON: DeleteOptions preconditions, merge patch and strategic merge patch', () => {
    const del = rewrite(JSON.stringify({ kind: 'DeleteOptions', preconditions: { uid: 'u', resourceVersion: presented } }), 'application/json', 'delete');
    expect(del.ok && JSON.parse(del.text).preconditions).toEqual({ uid: 'u', resourceVersion: '42' });
    const merge = rewrite(JSON.stringify({ metadata: { resourceVersion: presented, labels: { a: null } } }), 'application/merge-patch+json', 'patch');
    expect(merge.ok && JSON.parse(merge.text)).toEqual({ metadata: { resourceVersion: '42', labels: { a: null } } });
    const smp = {
      metadata: { resourceVersion: presented },
      spec: { containers: [{ name: 'c', $patch: 'delete' }] },
      '$setElementOrder/containers': [{ name: 'c' }],
    };
    const strategic = rewrite(JSON.stringify(smp), 'application/strategic-merge-patch+json', 'patch');
    expect(strategic.ok && JSON.parse(strategic.text)).toEqual({ ...smp, metadata: { resourceVersion: '42' } });
    for (const type of ['application/merge-patch+json', 'application/strategic-merge-patch+json'])
      expect(rewrite(JSON.stringify({ metadata: { resourceVersion: stale } }), type, 'patch')).toMatchObject({ ok: false, reason: 'stale' });
  });

  it('JSON patch: test, replace and add of the RV, of metadata and of the whole object are mapped', () => {
    const ops = [
      { op: 'test', path: '/metadata/resourceVersion', value: presented },
      { op: 'replace', path: '/metadata/resourceVersion', value: presented },
      { op: 'add', path: '/metadata', value: { name: 'a', resourceVersion: presented } },
      { op: 'replace', path: '', value: { metadata: { resourceVersion: presented } } },
      { op: 'add', path: '/preconditions/resourceVersion', value: presented },
      { op: 'add', path: '/data/resourceVersion', value: presented },
      { op: 'remove', path: '/metadata/resourceVersion' },
    ];
    const out = rewrite(JSON.stringify(ops), 'application/json-patch+json', 'patch');
    expect(out.ok && JSON.parse(out.text)).toEqual([
      { op: 'test', path: '/metadata/resourceVersion', value: '42' },
      { op: 'replace', path: '/metadata/resourceVersion', value: '42' },
      { op: 'add', path: '/metadata', value: { name: 'a', resourceVersion: '42' } },
      { op: 'replace', path: '', value: { metadata: { resourceVersion: '42' } } },
      { op: 'add', path: '/preconditions/resourceVersion', value: '42' },
      { op: 'add', path: '/data/resourceVersion', value: presented },
      { op: 'remove', path: '/metadata/resourceVersion' },
    ]);
  });

  it('JSON patch: an older epoch in replace is a conflict; in test it becomes a value no object has (the test fails as it would have)', () => {
    expect(rewrite(JSON.stringify([{ op: 'replace', path: '/metadata/resourceVersion', value: stale }]), 'application/json-patch+json', 'patch')).toMatchObject(
      {
        ok: false,
        reason: 'stale',
      },
    );
    const test = rewrite(JSON.stringify([{ op: 'test', path: '/metadata/resourceVersion', value: stale }]), 'application/json-patch+json', 'patch');
    expect(test.ok && JSON.parse(test.text)).toEqual([{ op: 'test', path: '/metadata/resourceVersion', value: 'older-epoch' }]);
  });

  it('YAML: only the RV scalars change, in their own style; comments, order and everything else stay byte for byte', () => {
    const yaml = [
      '# a comment',
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      '  name: a   # trailing',
      `  resourceVersion: ${presented}`,
      'data:',
      `  resourceVersion: "${presented}"`,
      `  odd: 0755`,
      '---',
      `{"kind": "DeleteOptions", "preconditions": {"resourceVersion": '${presented}'}}`,
      '---',
      'kind: ConfigMapList',
      'metadata:',
      `  resourceVersion: "${presentedList}"`,
      'items:',
      `- metadata: {name: b, resourceVersion: "${presented}"}`,
      '',
    ].join('\n');
    const out = rewrite(yaml, 'application/apply-patch+yaml', 'patch');
    const expected = yaml
      .replace(`  resourceVersion: ${presented}`, '  resourceVersion: 42')
      .replace(`'${presented}'`, "'42'")
      .replace(`"${presentedList}"`, '"77"')
      .replace(`resourceVersion: "${presented}"}`, 'resourceVersion: "42"}');
    expect(out).toEqual({ ok: true, text: expected });
  });

  it('YAML: an older epoch is stale; what Go could read differently is refused', () => {
    expect(rewrite(`metadata:\n  resourceVersion: "${stale}"\n`, 'application/yaml')).toMatchObject({ ok: false, reason: 'stale' });
    for (const body of [
      `base: &m {resourceVersion: "${presented}"}\nmetadata:\n  <<: *m\n`,
      `x: &rv "${presented}"\nmetadata:\n  resourceVersion: *rv\n`,
      `metadata:\n  resourceVersion: 0${presented}\n`,
      `metadata: {resourceVersion: 1, resourceVersion: 2}\n`,
      `metadata: [\n`,
    ])
      expect(rewrite(body, 'application/yaml')).toMatchObject({ ok: false, reason: 'malformed' });
    expect(rewrite(`metadata:\n  resourceVersion:\n`, 'application/yaml')).toEqual({ ok: true, text: `metadata:\n  resourceVersion:\n` });
  });

  it('CBOR and unknown formats get the 415 kube-apiserver words; malformed JSON a 400', () => {
    expect(rewrite('\xd9\xd9\xf7', 'application/cbor', 'update')).toEqual({ ok: false, reason: 'unsupported', message: unsupportedMediaTypeMessage(false) });
    expect(unsupportedMediaTypeMessage(false)).toBe(
      'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf',
    );
    expect(rewrite('x', 'application/apply-patch+cbor', 'patch')).toEqual({
      ok: false,
      reason: 'unsupported',
      message:
        'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml',
    });
    expect(rewrite('resourceVersion=1', 'application/x-www-form-urlencoded')).toMatchObject({ ok: false, reason: 'unsupported' });
    expect(rewrite('{"metadata":', 'application/json')).toMatchObject({ ok: false, reason: 'malformed' });
    expect(rewriteRequestBody(Buffer.alloc(0), 'application/cbor', codec)).toEqual({ ok: true, body: Buffer.alloc(0) });
    expect(backend(presented)).toBe('42');
  });
});
