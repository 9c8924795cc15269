// Protobuf request bodies written by client-go v0.36.3 itself (test/helpers/go/protobuf-bodies), rewritten
// by lib/routing/protobuf-rv.ts, then decoded by the API server's protobuf serializer: only the RVs differ,
// and the rewritten bytes are exactly what client-go would have written for the rewritten object.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { mapStringsAt, messagesAt, stringsAt } from '../../lib/routing/protobuf-wire.js';
import { kindLayout, OBJECT_META, OWNER_REFERENCE, readEnvelope, rewriteProtobufRVs, withRaw } from '../../lib/routing/protobuf-rv.js';
import { mapContinueToken, requestRVMapper, ShardRVCodec } from '../../lib/routing/resource-version.js';
import { beginHandoff, completeHandoff, emptyRoutingTable, shardState } from '../../lib/routing/routing-table.js';
import { isBridgeError } from '../../lib/errors.js';
import { clientGoFixtures, goDecode, goSchemeLayout, type GoDecoded, type ProtobufFixture } from '../helpers/protobuf-bodies.js';

const NOW = new Date('2026-11-22T12:00:00Z');
// Moved to the destination (source at RV 5000) and back (destination at RV 300): offset about 5300.
const table = completeHandoff(
  beginHandoff(completeHandoff(beginHandoff(emptyRoutingTable(), 'configmaps', 'destination', NOW), 'configmaps', '5000', NOW), 'configmaps', 'source', NOW),
  'configmaps',
  '300',
  NOW,
);
const codec = new ShardRVCodec(shardState(table, 'configmaps'));
const toBackend = requestRVMapper(codec);
const backend = (rv: string) => toBackend(rv)!;
/** The fixtures with no resourceVersion to map (the marked update's is "": Go writes every string field). */
const withoutRV = new Set<string>(['configmap-delete-plain', 'configmap-update-marked']);

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The decoded original with its RVs mapped as the bridge must map them. */
function expectedAfterRewrite(name: ProtobufFixture, original: Json): Json {
  const copy = structuredClone(original);
  if (withoutRV.has(name)) return copy;
  if (name === 'configmap-delete') copy.preconditions.resourceVersion = backend(copy.preconditions.resourceVersion);
  else copy.metadata.resourceVersion = backend(copy.metadata.resourceVersion);
  if (name === 'configmap-list') {
    copy.metadata.continue = mapContinueToken(copy.metadata.continue, backend);
    for (const item of copy.items) item.metadata.resourceVersion = backend(item.metadata.resourceVersion);
  }
  return copy;
}

describe('protobuf request bodies (client-go v0.36.3 bytes)', () => {
  let fixtures: Record<ProtobufFixture, Buffer>;
  let original: Record<string, GoDecoded>;
  let rewritten: Record<string, Buffer>;
  let decoded: Record<string, GoDecoded>;

  beforeAll(() => {
    fixtures = clientGoFixtures();
    rewritten = {};
    for (const [name, body] of Object.entries(fixtures)) {
      const out = rewriteProtobufRVs(body, toBackend);
      if (out === 'stale') throw new Error(`${name}: stale`);
      rewritten[name] = out;
    }
    original = goDecode(fixtures);
    decoded = goDecode(rewritten);
  }, 600_000);

  it("client-go's scheme has the layout the rewriter assumes for every kind", () => {
    const layout = goSchemeLayout();
    expect(layout.problems).toEqual([]);
    expect(layout.kindsChecked).toBeGreaterThan(300);
    expect(layout.withDeleteOptions).toEqual(['Eviction']);
  }, 600_000);

  it('the fixtures are what client-go sends (canonical: decoding and encoding them again gives the same bytes)', () => {
    expect(Object.keys(fixtures).sort()).toEqual([
      'configmap-delete',
      'configmap-delete-plain',
      'configmap-list',
      'configmap-update',
      'configmap-update-marked',
      'lease-update',
      'secret-create-owned',
    ]);
    for (const [name, body] of Object.entries(fixtures)) expect([name, original[name]!.reencoded.equals(body)]).toEqual([name, true]);
    expect(readEnvelope(fixtures['configmap-delete']).kind).toBe('DeleteOptions');
    expect(readEnvelope(fixtures['lease-update'])).toMatchObject({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease' });
  });

  it('changes only the resourceVersions (object, list, items, continue token, DeleteOptions preconditions)', () => {
    for (const name of Object.keys(fixtures) as ProtobufFixture[]) {
      expect([name, rewritten[name]!.equals(fixtures[name])]).toEqual([name, withoutRV.has(name)]);
      expect([name, decoded[name]!.object]).toEqual([name, expectedAfterRewrite(name, original[name]!.object)]);
    }
    // Values that merely look like the RV stay: ConfigMap data and annotations.
    const configMap = decoded['configmap-update']!.object as Json;
    expect(configMap.data.resourceVersion).toBe('1000000123');
    expect(configMap.metadata.resourceVersion).toBe(backend('1000000123'));
    expect(configMap.metadata.annotations.note).toContain('1000000123');
  });

  it('writes exactly the bytes client-go would write for the rewritten object', () => {
    for (const name of Object.keys(fixtures)) expect([name, decoded[name]!.reencoded.equals(rewritten[name]!)]).toEqual([name, true]);
  });

  it('refuses an older epoch: in the object, in preconditions, in a list item', () => {
    const stale = (rv: string) => (rv === '1000000124' || rv === '1000000789' ? undefined : backend(rv));
    expect(rewriteProtobufRVs(fixtures['configmap-delete'], stale)).toBe('stale');
    expect(rewriteProtobufRVs(fixtures['configmap-list'], stale)).toBe('stale');
    expect(rewriteProtobufRVs(fixtures['configmap-update'], stale)).not.toBe('stale');
    for (const name of Object.keys(fixtures) as ProtobufFixture[])
      expect([name, rewriteProtobufRVs(fixtures[name], () => undefined)]).toEqual([name, name === 'configmap-delete-plain' ? fixtures[name] : 'stale']);
  });

  it('keeps a body whose RVs map to themselves byte for byte (the same buffer)', () => {
    for (const body of Object.values(fixtures)) expect(rewriteProtobufRVs(body, (rv) => rv)).toBe(body);
  });

  it('refuses what it cannot read safely', () => {
    const body = fixtures['configmap-update'];
    const refused = (bytes: Buffer) => {
      try {
        rewriteProtobufRVs(bytes, toBackend);
      } catch (err) {
        return isBridgeError(err, 'BRIDGE_ERR_REQUEST_BODY');
      }
      return false;
    };
    expect(refused(Buffer.from('{"kind":"ConfigMap"}'))).toBe(true); // no magic
    expect(refused(body.subarray(0, body.length - 3))).toBe(true); // truncated
    expect(refused(Buffer.concat([body, Buffer.from([0x12, 0x00])]))).toBe(true); // raw twice
    expect(refused(Buffer.concat([body.subarray(0, 4), Buffer.from([0x12, 0x02, 0x0a, 0x00])]))).toBe(true); // an object, no typeMeta
    // ObjectMeta sent as a varint where kube-apiserver expects a message.
    const envelope = readEnvelope(body);
    expect(refused(withRaw(body, Buffer.from([0x08, 0x01])))).toBe(true);
    expect(envelope.raw.length).toBeGreaterThan(0);
    expect(refused(withRaw(body, Buffer.from([0x0a, 0x80])))).toBe(true); // truncated length
    expect(refused(withRaw(body, Buffer.from([0x0b])))).toBe(true); // a group
    expect(() => kindLayout('')).toThrow(/names no kind/);
    expect(() => kindLayout('List')).toThrow(/List/);
  });

  it('reads and replaces owner reference UIDs, and object UIDs, at a field path (for UID mapping)', () => {
    const body = fixtures['secret-create-owned'];
    const { raw } = readEnvelope(body);
    const ownerUIDs = [1, OBJECT_META.ownerReferences, OWNER_REFERENCE.uid];
    expect(stringsAt(raw, ownerUIDs)).toEqual(['5d8f1f8e-3c55-4d0e-9a43-4e1f3a6f0b21', '0b7c2e3a-1111-4a2b-8c3d-9e8f7a6b5c4d']);
    expect(messagesAt(raw, [1, OBJECT_META.ownerReferences]).map((ref) => stringsAt(ref, [OWNER_REFERENCE.kind])[0])).toEqual(['ConfigMap', 'Deployment']);
    const mapped = withRaw(
      body,
      mapStringsAt(raw, ownerUIDs, (uid) => (uid.startsWith('5d8f') ? 'aaaaaaaa-0000-4000-8000-000000000001' : uid)),
    );
    const original = goDecode({ body }).body!.object as Json;
    const out = goDecode({ mapped }).mapped!.object as Json;
    original.metadata.ownerReferences[0].uid = 'aaaaaaaa-0000-4000-8000-000000000001';
    expect(out).toEqual(original);
    const withUid = readEnvelope(fixtures['configmap-update']).raw;
    expect(stringsAt(withUid, [1, OBJECT_META.uid])).toEqual(['5d8f1f8e-3c55-4d0e-9a43-4e1f3a6f0b21']);
  }, 600_000);
});
