/**
 * The request side of one identity per object for protobuf bodies (issue 20 item 4; the JSON side is
 * request-identity.ts). Only what the decisions need is decoded, into the shape of a JSON body (the
 * target's annotations, UID and resourceVersion, its ownerReferences, a delete's precondition UID), so
 * request-identity.ts decides for both formats; the edits it makes are then written into the bytes:
 * UIDs replaced where they are, and annotation entries (and a pinning UID) appended to ObjectMeta.
 * Go's decoder keeps the last value of a map key sent twice (`m.Annotations[key] = value`, checked by
 * test/unit/protobuf-identity.test.ts), so an appended entry replaces the client's; every other byte
 * is copied. Callers refuse a client's own bridge annotation before any entry is appended.
 */
import type { KubeObject } from '../kube/types.js';
import { lengthDelimited, mapStringsAt, messagesAt, parseFields, rewriteFields, stringsAt } from './protobuf-wire.js';
import { kindLayout, MAP_ENTRY, OBJECT_META, OWNER_REFERENCE, PRECONDITIONS, readEnvelope, withRaw } from './protobuf-rv.js';
import { rewriteRequestIdentity } from './request-identity.js';

/** ObjectMeta of a top-level object (the only one a write body identifies). */
const METADATA = 1;
/** DeleteOptions.preconditions. */
const PRECONDITIONS_FIELD = 2;

export interface ProtobufIdentityView {
  kind: string;
  metadata?: {
    name?: string;
    uid?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string }[];
  };
  preconditions?: { uid?: string };
}

/** The last value of a string field, as Go keeps it; undefined when absent or empty (proto3 does not send ""). */
const lastString = (message: Uint8Array, field: number): string | undefined => stringsAt(message, [field]).at(-1) || undefined;

function decodeMetadata(raw: Uint8Array): NonNullable<ProtobufIdentityView['metadata']> {
  const metas = messagesAt(raw, [METADATA]);
  // A message field sent twice is merged: scalars keep the last value, maps and repeated fields accumulate.
  const last = (field: number) =>
    metas
      .map((meta) => lastString(meta, field))
      .filter((v) => v !== undefined)
      .at(-1);
  const entries = new Map<string, string>();
  for (const entry of messagesAt(raw, [METADATA, OBJECT_META.annotations]))
    entries.set(lastString(entry, MAP_ENTRY.key) ?? '', lastString(entry, MAP_ENTRY.value) ?? '');
  const ownerReferences = messagesAt(raw, [METADATA, OBJECT_META.ownerReferences]).map((ref) => ({
    apiVersion: lastString(ref, OWNER_REFERENCE.apiVersion) ?? '',
    kind: lastString(ref, OWNER_REFERENCE.kind) ?? '',
    name: lastString(ref, OWNER_REFERENCE.name) ?? '',
    uid: lastString(ref, OWNER_REFERENCE.uid) ?? '',
  }));
  const metadata: NonNullable<ProtobufIdentityView['metadata']> = {};
  const name = last(OBJECT_META.name);
  const uid = last(OBJECT_META.uid);
  const resourceVersion = last(OBJECT_META.resourceVersion);
  if (name) metadata.name = name;
  if (uid) metadata.uid = uid;
  if (resourceVersion) metadata.resourceVersion = resourceVersion;
  // fromEntries defines own properties: a key such as __proto__ stays a key.
  if (entries.size > 0) metadata.annotations = Object.fromEntries(entries);
  if (ownerReferences.length > 0) metadata.ownerReferences = ownerReferences;
  return metadata;
}

/**
 * What the identity step reads of a protobuf write body: an object's (create, update) metadata, or a
 * DeleteOptions' precondition UID. Throws BRIDGE_ERR_REQUEST_BODY for a body it cannot read.
 */
export function readProtobufIdentity(body: Uint8Array): ProtobufIdentityView {
  const envelope = readEnvelope(body);
  if (envelope.raw.length === 0) return { kind: envelope.kind };
  const layout = kindLayout(envelope.kind);
  if (layout === 'delete-options') {
    const uid = messagesAt(envelope.raw, [PRECONDITIONS_FIELD])
      .map((p) => lastString(p, PRECONDITIONS.uid))
      .filter((v) => v !== undefined)
      .at(-1);
    return { kind: envelope.kind, preconditions: uid ? { uid } : {} };
  }
  // A list is no write body; an Eviction's own metadata is read as an object's (as the JSON side does).
  return layout === 'list' ? { kind: envelope.kind } : { kind: envelope.kind, metadata: decodeMetadata(envelope.raw) };
}

/** `raw` with `appended` added to its last ObjectMeta (a new one when it has none). */
function appendToMetadata(raw: Uint8Array, appended: Uint8Array): Uint8Array {
  const last = parseFields(raw)
    .filter((field) => field.number === METADATA)
    .at(-1);
  if (!last) return Buffer.concat([raw, lengthDelimited(METADATA, appended)]);
  return rewriteFields(raw, (field, payload) => (field.start === last.start ? Buffer.concat([payload, appended]) : undefined));
}

/**
 * The body with request-identity.ts's rewriting applied (see rewriteRequestIdentity): the UIDs in
 * `uids` (presented -> backend) replaced, and with `restoreFrom` its bridge marks appended. `view` is
 * readProtobufIdentity(body). Returns `body` itself when nothing changed.
 */
export function rewriteProtobufIdentity(body: Buffer, view: ProtobufIdentityView, uids: ReadonlyMap<string, string>, restoreFrom?: KubeObject): Buffer {
  const after = structuredClone(view);
  if (!rewriteRequestIdentity(after, uids, restoreFrom)) return body;
  const mapUid = (uid: string) => uids.get(uid) ?? uid;
  let raw = readEnvelope(body).raw;
  if (view.preconditions) raw = mapStringsAt(raw, [PRECONDITIONS_FIELD, PRECONDITIONS.uid], mapUid);
  if (view.metadata) {
    raw = mapStringsAt(raw, [METADATA, OBJECT_META.uid], mapUid);
    raw = mapStringsAt(raw, [METADATA, OBJECT_META.ownerReferences, OWNER_REFERENCE.uid], mapUid);
  }
  const before = view.metadata?.annotations ?? {};
  const appended: Uint8Array[] = [];
  for (const [key, value] of Object.entries(after.metadata?.annotations ?? {}))
    if (!Object.hasOwn(before, key) || before[key] !== value)
      appended.push(
        lengthDelimited(
          OBJECT_META.annotations,
          Buffer.concat([lengthDelimited(MAP_ENTRY.key, Buffer.from(key)), lengthDelimited(MAP_ENTRY.value, Buffer.from(value))]),
        ),
      );
  // The update pinned to the stored object's UID (it carried neither a resourceVersion nor a UID).
  if (!view.metadata?.uid && after.metadata?.uid) appended.push(lengthDelimited(OBJECT_META.uid, Buffer.from(after.metadata.uid)));
  if (appended.length > 0) raw = appendToMetadata(raw, Buffer.concat(appended));
  return withRaw(body, raw);
}
