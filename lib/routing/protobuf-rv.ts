/**
 * resourceVersions in Kubernetes protobuf bodies (`application/vnd.kubernetes.protobuf`): the `k8s\0`
 * magic, then a `runtime.Unknown` whose `raw` holds the object of the kind its `typeMeta` names. Field
 * numbers are those of k8s.io/apimachinery and k8s.io/api v0.36 `generated.proto`; the layout every
 * kind of client-go's scheme has (metadata is field 1, a list's items field 2, DeleteOptions field 2 of
 * Eviction) is checked against client-go itself by test/helpers/go/protobuf-bodies (`scheme`).
 */
import { BridgeError } from '../errors.js';
import { mapMessagesAt, mapStringsAt, parseFields, stringsAt, WIRE_LEN } from './protobuf-wire.js';
import { mapContinueToken } from './resource-version.js';

export const PROTOBUF_MAGIC = Buffer.from('k8s\0', 'latin1');

/** runtime.Unknown and runtime.TypeMeta (k8s.io/apimachinery/pkg/runtime/generated.proto). */
export const UNKNOWN = { typeMeta: 1, raw: 2, contentEncoding: 3, contentType: 4 } as const;
export const TYPE_META = { apiVersion: 1, kind: 2 } as const;
/** k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto. */
export const OBJECT_META = { name: 1, uid: 5, resourceVersion: 6, annotations: 12, ownerReferences: 13 } as const;
/** A map<string, string> entry (annotations). */
export const MAP_ENTRY = { key: 1, value: 2 } as const;
export const LIST_META = { resourceVersion: 2, continue: 3 } as const;
export const OWNER_REFERENCE = { kind: 1, name: 3, uid: 4, apiVersion: 5 } as const;
export const DELETE_OPTIONS = { preconditions: 2 } as const;
export const PRECONDITIONS = { uid: 1, resourceVersion: 2 } as const;
/** Every top-level kind: `metadata` (ObjectMeta or ListMeta) is field 1; a list's `items` field 2. */
const METADATA = 1;
const ITEMS = 2;
/** policy/v1 Eviction: `deleteOptions` is field 2. */
const EVICTION_DELETE_OPTIONS = 2;

export interface ProtobufEnvelope {
  apiVersion: string;
  kind: string;
  /** The encoded object, the payload of `runtime.Unknown.raw`. */
  raw: Uint8Array;
}

function refuse(message: string): never {
  throw new BridgeError('BRIDGE_ERR_REQUEST_BODY', message);
}

/** Reads the envelope (absent fields read as empty); refuses a body without the magic, or whose typeMeta or raw is repeated. */
export function readEnvelope(body: Uint8Array): ProtobufEnvelope {
  if (body.length < PROTOBUF_MAGIC.length || !PROTOBUF_MAGIC.equals(body.subarray(0, PROTOBUF_MAGIC.length)))
    refuse('the body does not start with the Kubernetes protobuf magic "k8s\\0"');
  const unknown = body.subarray(PROTOBUF_MAGIC.length);
  const fields = parseFields(unknown);
  const typeMetas = fields.filter((field) => field.number === UNKNOWN.typeMeta);
  const raws = fields.filter((field) => field.number === UNKNOWN.raw);
  // protobuf merges a repeated message field and keeps the last bytes field: at most one of each is what a client sends.
  if (typeMetas.length > 1 || raws.length > 1) refuse(`the protobuf envelope has ${typeMetas.length} typeMeta and ${raws.length} raw fields`);
  if ([...typeMetas, ...raws].some((field) => field.wireType !== WIRE_LEN)) refuse('the protobuf envelope has a typeMeta or raw that is not length-delimited');
  const meta = typeMetas[0] ? unknown.subarray(typeMetas[0].valueStart, typeMetas[0].end) : new Uint8Array(0);
  return {
    apiVersion: stringsAt(meta, [TYPE_META.apiVersion]).at(-1) ?? '',
    kind: stringsAt(meta, [TYPE_META.kind]).at(-1) ?? '',
    raw: raws[0] ? unknown.subarray(raws[0].valueStart, raws[0].end) : new Uint8Array(0),
  };
}

/** The body with `raw` replaced; every other byte of the envelope is kept. */
export function withRaw(body: Uint8Array, raw: Uint8Array): Buffer {
  const unknown = body.subarray(PROTOBUF_MAGIC.length);
  const rewritten = mapMessagesAt(unknown, [UNKNOWN.raw], () => raw);
  return Buffer.concat([PROTOBUF_MAGIC, rewritten]);
}

export type KindLayout =
  /** An object: ObjectMeta at field 1. */
  | 'object'
  /** A *List (and Status): ListMeta at field 1, items with ObjectMeta at field 2. */
  | 'list'
  | 'delete-options'
  | 'eviction';

/** How a kind's message is laid out; the untyped `List` (items as RawExtension) and a missing kind are refused. */
export function kindLayout(kind: string): KindLayout {
  if (kind === '') refuse('the protobuf envelope names no kind');
  if (kind === 'List') refuse('a protobuf v1 List body is not supported');
  if (kind === 'DeleteOptions') return 'delete-options';
  if (kind === 'Eviction') return 'eviction';
  return kind.endsWith('List') || kind === 'Status' ? 'list' : 'object';
}

/** The paths (field numbers inside raw) of every ObjectMeta of a kind: for UIDs, owner references and RVs. */
export function objectMetaPaths(layout: KindLayout): number[][] {
  if (layout === 'object' || layout === 'eviction') return [[METADATA]];
  return layout === 'list' ? [[ITEMS, METADATA]] : [];
}

/** The paths of a kind's Preconditions (uid 1, resourceVersion 2). */
export function preconditionsPaths(layout: KindLayout): number[][] {
  if (layout === 'delete-options') return [[DELETE_OPTIONS.preconditions]];
  return layout === 'eviction' ? [[EVICTION_DELETE_OPTIONS, DELETE_OPTIONS.preconditions]] : [];
}

/**
 * Maps every resourceVersion (and list continue token) of a protobuf body with `map`, which returns
 * undefined to refuse a value (an older epoch): then the answer is 'stale'. Throws BRIDGE_ERR_REQUEST_BODY
 * for a body it cannot read. Returns `body` itself when nothing changed.
 */
export function rewriteProtobufRVs(body: Buffer, map: (rv: string) => string | undefined): Buffer | 'stale' {
  const envelope = readEnvelope(body);
  // No object (an empty DeleteOptions, say): nothing to map, whatever the kind.
  if (envelope.raw.length === 0) return body;
  const layout = kindLayout(envelope.kind);
  let stale = false;
  const mapOne = (rv: string): string => {
    const mapped = map(rv);
    if (mapped === undefined) stale = true;
    return mapped ?? rv;
  };
  let raw = envelope.raw;
  for (const path of objectMetaPaths(layout)) raw = mapStringsAt(raw, [...path, OBJECT_META.resourceVersion], mapOne);
  for (const path of preconditionsPaths(layout)) raw = mapStringsAt(raw, [...path, PRECONDITIONS.resourceVersion], mapOne);
  if (layout === 'list') {
    raw = mapStringsAt(raw, [METADATA, LIST_META.resourceVersion], mapOne);
    raw = mapStringsAt(raw, [METADATA, LIST_META.continue], (token) => mapContinueToken(token, map) ?? ((stale = true), token));
  }
  if (stale) return 'stale';
  return raw === envelope.raw ? body : withRaw(body, raw);
}
