// Merged cluster-wide reads (aggregator/request/merged-*.ts, ns-design section 3): the owner filter,
// the merged list body (List and Table), the bridge's continue token, the per-backend query and the
// client's Accept, and route() sending a carried type's cluster-wide reads there.
import { describe, expect, it } from '@jest/globals';
import { decodeMergedContinue, encodeMergedContinue } from '../../aggregator/request/merged-continue.js';
import { mergeListPages } from '../../aggregator/request/merged-list-body.js';
import { keptFrom, namespaceOwner, ownershipFingerprint } from '../../aggregator/request/merged-ownership.js';
import { acceptsJson, backendPath } from '../../aggregator/request/merged-request.js';
import { MergedRVCodec } from '../../lib/routing/merged-rv.js';
import { parseRequestInfo } from '../../lib/routing/request-info.js';
import { beginHandoff, route, shardState } from '../../lib/routing/routing-table.js';
import { namespaceShardKey } from '../../lib/routing/shard-hash.js';
import { configMap, configMapList, NOW, splitTable } from '../helpers/merged-fixtures.js';

type Json = Record<string, unknown>;
const names = (body: Json) =>
  ((body.items ?? body.rows) as Json[])
    .map((i) => ((i.object ?? i) as { metadata: { namespace: string; name: string } }).metadata)
    .map((m) => `${m.namespace}/${m.name}`);

describe('merged ownership', () => {
  const table = splitTable(['team-a']);

  it('keeps each namespace from its owner: moved ones from the destination, others and system namespaces from the source', () => {
    expect(namespaceOwner(table, 'team-a')).toBe('destination');
    expect(namespaceOwner(table, 'team-b')).toBe('source');
    expect(namespaceOwner(table, 'kube-system')).toBe('source');
    expect(keptFrom(table, 'destination', 'team-a')).toBe(true);
    expect(keptFrom(table, 'source', 'team-a')).toBe(false);
    expect(keptFrom(table, 'destination', 'kube-system')).toBe(false);
    expect(keptFrom(table, 'destination', 'team-b')).toBe(false);
  });

  it('a hand-off starting or completing changes the fingerprint a merged read checks; an unrelated type shard does not', () => {
    const before = ownershipFingerprint(table);
    expect(ownershipFingerprint(beginHandoff(table, namespaceShardKey('team-b'), 'destination', NOW))).not.toBe(before);
    expect(ownershipFingerprint(beginHandoff(table, 'secrets', 'destination', NOW))).toBe(before);
  });
});

describe('merged list body', () => {
  const table = splitTable(['team-a']);
  const source = configMapList('1200', [configMap('kube-system', 'cfg', '10'), configMap('team-a', 'stale-copy', '90'), configMap('team-b', 'b1', '1100')]);
  const destination = configMapList('2300', [configMap('kube-system', 'dest-only', '5'), configMap('team-a', 'a1', '2250'), configMap('team-b', 'b1', '2210')]);

  it('is exactly the union of what the owners hold, in key order, with no duplicate and no destination system object', () => {
    const body = mergeListPages(
      table,
      [
        { side: 'source', body: structuredClone(source) },
        { side: 'destination', body: structuredClone(destination) },
      ],
      { resourceVersion: '7' },
      true,
    );
    expect(names(body)).toEqual(['kube-system/cfg', 'team-a/a1', 'team-b/b1']);
    expect(body.kind).toBe('ConfigMapList');
    expect(body.metadata).toEqual({ resourceVersion: '7' });
  });

  it("items present their namespace shard's RV (a moved namespace's offset), the list the merged RV and the bridge's token", () => {
    const body = mergeListPages(
      table,
      [
        { side: 'source', body: structuredClone(source) },
        { side: 'destination', body: structuredClone(destination) },
      ],
      { resourceVersion: '99', continueToken: 'tok' },
      true,
    );
    const rvs = Object.fromEntries((body.items as Json[]).map((i) => [(i.metadata as Json).name, (i.metadata as Json).resourceVersion]));
    const offset = BigInt(shardState(table, namespaceShardKey('team-a')).epochs[1]!.offset);
    expect(rvs.a1).toBe((2250n + offset).toString());
    expect(rvs.b1).toBe('1100');
    expect(body.metadata).toEqual({ resourceVersion: '99', continue: 'tok' });
  });

  it('drops remainingItemCount (the owner filter makes the backends counts wrong)', () => {
    const page = { ...configMapList('1', [configMap('team-b', 'x', '1')]), metadata: { resourceVersion: '1', remainingItemCount: 40 } };
    expect((mergeListPages(table, [{ side: 'source', body: page }], { resourceVersion: '5' }, false).metadata as Json).remainingItemCount).toBeUndefined();
  });

  it('merges Table rows by the namespace of each row object, column definitions from the first answer', () => {
    const row = (ns: string, name: string, rv: string) => ({
      cells: [name],
      object: { kind: 'PartialObjectMetadata', metadata: { namespace: ns, name, resourceVersion: rv } },
    });
    const tableOf = (rows: unknown[], columns: string) => ({
      kind: 'Table',
      apiVersion: 'meta.k8s.io/v1',
      metadata: { resourceVersion: '1' },
      columnDefinitions: [{ name: columns }],
      rows,
    });
    const body = mergeListPages(
      table,
      [
        { side: 'source', body: tableOf([row('team-a', 'copy', '3'), row('team-b', 'b', '4')], 'Name') },
        { side: 'destination', body: tableOf([row('team-a', 'a', '5'), row('kube-public', 'p', '6')], 'Other') },
      ],
      { resourceVersion: '8' },
      true,
    );
    expect(names(body)).toEqual(['team-a/a', 'team-b/b']);
    expect(body.columnDefinitions).toEqual([{ name: 'Name' }]);
    expect(body.items).toBeUndefined();
  });
});

describe('merged continue token', () => {
  it('round-trips and refuses tokens the bridge did not write', () => {
    const token = encodeMergedContinue({ rv: '4611686018427387905', side: 'source', token: 'abc' });
    expect(decodeMergedContinue(token)).toEqual({ rv: '4611686018427387905', side: 'source', token: 'abc' });
    expect(decodeMergedContinue(encodeMergedContinue({ rv: '1', side: 'destination', token: '' }))).toEqual({ rv: '1', side: 'destination', token: '' });
    // A backend's own token (kube-apiserver's storage layer) is not a merged one.
    expect(decodeMergedContinue(Buffer.from('{"v":"meta.k8s.io/v1","rv":5,"start":"a/b\\u0000"}').toString('base64url'))).toBeUndefined();
    expect(decodeMergedContinue('not base64 json')).toBeUndefined();
    expect(decodeMergedContinue(encodeMergedContinue({ rv: '1', side: 'source', token: '' }))).toBeUndefined();
  });
});

describe('merged request', () => {
  it("replaces the client's resourceVersion, match, limit and continue per backend and keeps its selectors", () => {
    const path = backendPath('/api/v1/configmaps?labelSelector=app%3Dx&resourceVersion=46&limit=5&continue=zz&fieldSelector=metadata.name%3Da', {
      resourceVersion: '12',
      resourceVersionMatch: 'NotOlderThan',
      limit: undefined,
    });
    const params = new URLSearchParams(path.split('?')[1]);
    expect(path.split('?')[0]).toBe('/api/v1/configmaps');
    expect(Object.fromEntries(params)).toEqual({
      labelSelector: 'app=x',
      fieldSelector: 'metadata.name=a',
      resourceVersion: '12',
      resourceVersionMatch: 'NotOlderThan',
    });
  });

  it("takes JSON, a wildcard or client-go's protobuf-first Accept, and refuses protobuf or CBOR alone", () => {
    expect(acceptsJson(undefined)).toBe(true);
    expect(acceptsJson('application/vnd.kubernetes.protobuf, application/json')).toBe(true);
    expect(acceptsJson('application/json;as=Table;v=v1;g=meta.k8s.io,application/json')).toBe(true);
    expect(acceptsJson('*/*')).toBe(true);
    expect(acceptsJson('application/vnd.kubernetes.protobuf')).toBe(false);
    expect(acceptsJson('application/cbor')).toBe(false);
  });
});

describe('route of a carried type', () => {
  const info = (url: string, method = 'GET') => parseRequestInfo(method, url);

  it('is merged cluster-wide once namespaces are split, by namespace shard when namespaced, the source before any move', () => {
    const split = splitTable(['team-a'], null);
    expect(route(info('/api/v1/configmaps'), split)).toEqual({ target: 'merged', reason: 'namespaces-split', shard: 'configmaps' });
    expect(route(info('/api/v1/configmaps?watch=1'), split).target).toBe('merged');
    expect(route(info('/api/v1/namespaces/team-a/configmaps'), split)).toEqual({ target: 'destination', reason: 'shard-owner', shard: 'namespace/team-a' });
    expect(route(info('/api/v1/namespaces/team-b/configmaps'), split).target).toBe('source');
    expect(route(info('/api/v1/secrets'), split).target).toBe('source');
    const unsplit = { ...splitTable([], null) };
    expect(route(info('/api/v1/configmaps'), unsplit).target).toBe('source');
    // Once merged RVs were presented, always merged (RVs must not go down), even with every namespace back.
    expect(route(info('/api/v1/configmaps'), splitTable([], { source: '1', destination: '1' })).target).toBe('merged');
  });

  it('a merged RV decodes back to the two list revisions it was presented from', () => {
    const codec = new MergedRVCodec(splitTable().merged!.epochs);
    expect(codec.decode(codec.present(1200n, 2300n))).toMatchObject({ kind: 'current', source: 1200n, destination: 2300n });
  });
});
