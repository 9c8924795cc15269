import { Readable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { beginHandoff, completeHandoff, emptyRoutingTable, shardState } from '../../lib/routing/routing-table.js';
import { mapContinueToken, parseJsonExact, requestRVMapper, responseRVMapper, rewriteObjectRVs, ShardRVCodec } from '../../lib/routing/resource-version.js';
import { WatchRVRewriter } from '../../lib/routing/watch-rewriter.js';
import type { RoutingTable } from '../../lib/routing/types.js';

const NOW = new Date('2026-11-22T12:00:00Z');

/** configmaps moved source -> destination (source at RV 5000) -> source (destination at RV 300). */
function threeEpochs(): RoutingTable {
  let table = completeHandoff(beginHandoff(emptyRoutingTable(), 'configmaps', 'destination', NOW), 'configmaps', '5000', NOW);
  table = completeHandoff(beginHandoff(table, 'configmaps', 'source', NOW), 'configmaps', '300', NOW);
  return table;
}

describe('ShardRVCodec', () => {
  it('is the identity in epoch 0', () => {
    const codec = new ShardRVCodec(shardState(emptyRoutingTable(), 'configmaps'));
    expect(codec.isIdentity).toBe(true);
    expect(codec.present('123')).toBe('123');
    expect(codec.decode('123')).toEqual({ kind: 'current', backendRV: '123' });
  });

  it('round-trips every backend RV of the current epoch and refuses RVs of older epochs', () => {
    const table = threeEpochs();
    const state = shardState(table, 'configmaps');
    const codec = new ShardRVCodec(state);
    for (const rv of ['1', '2', '299', '5000', '123456789', '9000000000000']) {
      const presented = codec.present(rv);
      expect(codec.decode(presented)).toEqual({ kind: 'current', backendRV: rv });
    }
    // Anything the earlier epochs could have presented decodes as theirs.
    const epoch1 = new ShardRVCodec({ ...state, owner: 'destination', epochs: state.epochs.slice(0, 2) });
    for (const rv of ['1', '300']) expect(codec.decode(epoch1.present(rv))).toEqual({ kind: 'older-epoch', epoch: 1 });
    for (const rv of ['1', '5000']) expect(codec.decode(rv)).toEqual({ kind: 'older-epoch', epoch: 0 });
  });

  it('presents RVs that grow across owner changes, even for objects last written long ago', () => {
    const state = shardState(threeEpochs(), 'configmaps');
    const epochs = [1, 2, 3].map((n) => new ShardRVCodec({ ...state, epochs: state.epochs.slice(0, n) }));
    // The largest RV each epoch could present (the old backend's revision at the hand-off) is below
    // the smallest the next can present (backend RV 1).
    expect(BigInt(epochs[0]!.present('5000'))).toBeLessThan(BigInt(epochs[1]!.present('1')));
    expect(BigInt(epochs[1]!.present('300'))).toBeLessThan(BigInt(epochs[2]!.present('1')));
    expect(BigInt(epochs[2]!.present('9000000000000'))).toBeLessThan(2n ** 63n);
  });

  it.each([
    ['', 'unset'],
    ['0', 'unset'],
    ['abc', 'invalid'],
    ['-1', 'invalid'],
    ['1e5', 'invalid'],
    [(2n ** 63n).toString(), 'invalid'],
    ['99999999999999999999', 'invalid'],
  ])('decodes %j as %s', (rv, kind) => {
    expect(new ShardRVCodec(shardState(threeEpochs(), 'configmaps')).decode(rv).kind).toBe(kind);
  });
});

describe('rewriting bodies', () => {
  const codec = new ShardRVCodec(shardState(threeEpochs(), 'configmaps'));
  const out = responseRVMapper(codec);
  const offset = BigInt(codec.current.offset);
  const p = (rv: number) => (BigInt(rv) + offset).toString();
  const token = (rv: number) => Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start: 'app/cm-1\u0000' })).toString('base64url');

  it('an object, a list with its continue token, and a Table', () => {
    const list = {
      kind: 'ConfigMapList',
      metadata: { resourceVersion: '40', continue: token(40) },
      items: [{ metadata: { name: 'a', resourceVersion: '7' } }, { metadata: { name: 'b', resourceVersion: '9' } }],
    };
    expect(rewriteObjectRVs(list, out)).toBe(true);
    expect(list.metadata.resourceVersion).toBe(p(40));
    expect(list.items.map((i) => i.metadata.resourceVersion)).toEqual([p(7), p(9)]);
    expect(JSON.parse(Buffer.from(list.metadata.continue, 'base64url').toString())).toEqual({
      v: 'meta.k8s.io/v1',
      rv: Number(p(40)),
      start: 'app/cm-1\u0000',
    });

    const table = {
      kind: 'Table',
      metadata: { resourceVersion: '41' },
      rows: [{ cells: ['a'], object: { kind: 'PartialObjectMetadata', metadata: { resourceVersion: '8' } } }],
    };
    rewriteObjectRVs(table, out);
    expect([table.metadata.resourceVersion, table.rows[0]!.object.metadata.resourceVersion]).toEqual([p(41), p(8)]);
  });

  it('watch events, bookmarks and error events', () => {
    const added = { type: 'ADDED', object: { metadata: { resourceVersion: '12' } } };
    const bookmark = { type: 'BOOKMARK', object: { kind: 'ConfigMap', metadata: { resourceVersion: '13' } } };
    const error = { type: 'ERROR', object: { kind: 'Status', code: 410, message: 'too old' } };
    for (const e of [added, bookmark, error]) rewriteObjectRVs(e, out);
    expect([added.object.metadata.resourceVersion, bookmark.object.metadata.resourceVersion]).toEqual([p(12), p(13)]);
    expect(error.object).toEqual({ kind: 'Status', code: 410, message: 'too old' });
  });

  it('request bodies: an update and delete preconditions map back, an older epoch is refused', () => {
    const into = requestRVMapper(codec);
    const update = { metadata: { name: 'a', resourceVersion: p(77) } };
    expect(rewriteObjectRVs(update, into)).toBe(true);
    expect(update.metadata.resourceVersion).toBe('77');
    const del = { kind: 'DeleteOptions', preconditions: { uid: 'u', resourceVersion: p(78) } };
    expect(rewriteObjectRVs(del, into)).toBe(true);
    expect(del.preconditions.resourceVersion).toBe('78');
    expect(rewriteObjectRVs({ metadata: { resourceVersion: '4999' } }, into)).toBe(false);
    expect(mapContinueToken(token(4999), into)).toBeUndefined();
    expect(mapContinueToken(token(Number(p(5))), into)).toBe(token(5));
  });

  it('keeps integers above 2^53 exact', () => {
    const text = '{"metadata":{"resourceVersion":"5"},"spec":{"big":12345678901234567891,"small":1.25}}';
    const body = parseJsonExact(text);
    rewriteObjectRVs(body, out);
    expect(JSON.stringify(body)).toBe(`{"metadata":{"resourceVersion":"${p(5)}"},"spec":{"big":12345678901234567891,"small":1.25}}`);
  });
});

describe('WatchRVRewriter', () => {
  it('rewrites every event whatever the chunk boundaries', async () => {
    const codec = new ShardRVCodec(shardState(threeEpochs(), 'configmaps'));
    const events = [1, 2, 3].map((i) => ({
      type: 'MODIFIED',
      object: { kind: 'ConfigMap', metadata: { name: `c${i}`, resourceVersion: `${100 + i}` }, data: { text: 'line\nwith newline escaped' } },
    }));
    const wire = Buffer.from(events.map((e) => `${JSON.stringify(e)}\n`).join(''));
    const chunks: Buffer[] = [];
    for (let i = 0; i < wire.length; i += 7) chunks.push(wire.subarray(i, i + 7));
    const output: Buffer[] = [];
    for await (const chunk of Readable.from(chunks).pipe(new WatchRVRewriter(responseRVMapper(codec)))) output.push(chunk as Buffer);
    const lines = Buffer.concat(output)
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((e) => e.object.metadata.resourceVersion)).toEqual([101, 102, 103].map((rv) => codec.present(String(rv))));
    expect(lines.map((e) => e.object.data.text)).toEqual(events.map((e) => e.object.data.text));
  });
});
