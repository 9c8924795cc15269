/**
 * resourceVersions across owners (DESIGN.md section 3, docs/adr/0006): a shard presents
 * `backendRV + offset(epoch)` to clients, so RVs stay decimal, below 2^63, and only grow for the shard
 * however often its owner changes. This module is the codec for one shard's epochs and the rewriting
 * of every place an RV appears: object and list metadata, continue tokens, Table rows, watch events,
 * and on the way in, query parameters and request bodies.
 */
import type { Epoch, ShardState } from './types.js';

export const MAX_RV = 2n ** 63n - 1n;

export type DecodedRV =
  /** `""` and `"0"` mean "any" / "most recent" to kube-apiserver: passed through unchanged. */
  | { kind: 'unset'; backendRV: string }
  | { kind: 'current'; backendRV: string }
  /** From an epoch before the current one: 410 Expired for list/watch, 409 Conflict for preconditions. */
  | { kind: 'older-epoch'; epoch: number }
  /** Not a decimal below 2^63: the client sent something no bridge presented. */
  | { kind: 'invalid' };

/** One shard's codec, built once per routing-table snapshot. */
export class ShardRVCodec {
  readonly current: Epoch;
  private readonly offset: bigint;
  private readonly offsets: bigint[];

  constructor(readonly state: ShardState) {
    this.current = state.epochs[state.epochs.length - 1]!;
    this.offsets = state.epochs.map((e) => BigInt(e.offset));
    this.offset = this.offsets[this.offsets.length - 1]!;
  }

  /** True before any move: presented RVs are exactly the source's and nothing needs rewriting. */
  get isIdentity(): boolean {
    return this.offset === 0n;
  }

  /** The RV a client sees for a backend RV of the current owner. Non-decimal values pass unchanged. */
  present(backendRV: string): string {
    if (this.offset === 0n || !/^\d+$/.test(backendRV)) return backendRV;
    return (BigInt(backendRV) + this.offset).toString();
  }

  decode(presented: string): DecodedRV {
    if (presented === '' || presented === '0') return { kind: 'unset', backendRV: presented };
    if (!/^\d{1,19}$/.test(presented)) return { kind: 'invalid' };
    const value = BigInt(presented);
    if (value > MAX_RV) return { kind: 'invalid' };
    // The epoch is the last one whose offset is below the value (epoch e covers (offset(e), offset(e+1)]).
    let epoch = this.offsets.length - 1;
    while (epoch > 0 && value <= this.offsets[epoch]!) epoch--;
    if (epoch !== this.offsets.length - 1) return { kind: 'older-epoch', epoch };
    return { kind: 'current', backendRV: (value - this.offset).toString() };
  }
}

// ---- continue tokens: base64 of {"v":"meta.k8s.io/v1","rv":<int64>,"start":"<key>"} (apiserver's storage layer)

const TOKEN_RV = /"rv":(\d+)/;

/** Rewrites the RV inside a continue token; tokens it cannot read pass unchanged (the API server judges them). */
export function mapContinueToken(token: string, map: (rv: string) => string | undefined): string | undefined {
  if (token === '') return token;
  let text: string;
  try {
    text = Buffer.from(token, 'base64url').toString('utf8');
  } catch {
    return token;
  }
  const match = TOKEN_RV.exec(text);
  if (!match) return token;
  const mapped = map(match[1]!);
  if (mapped === undefined) return undefined;
  const rewritten = text.replace(TOKEN_RV, `"rv":${mapped}`);
  // apiserver writes RawURLEncoding (no padding); keep the client's padding habit irrelevant.
  return Buffer.from(rewritten, 'utf8').toString('base64url');
}

// ---- JSON bodies

type Json = Record<string, unknown>;

/** JSON.rawJSON (Node >= 21) keeps int64 fields above 2^53 exact through parse and stringify. */
const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

function keepBigIntegers(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value === 'number' && !Number.isSafeInteger(value) && context?.source && /^-?\d+$/.test(context.source)) return rawJSON(context.source);
  return value;
}

/** JSON.parse that never rounds an integer; the reviver only runs when a long digit run exists. */
export function parseJsonExact(text: string): unknown {
  return /\d{16}/.test(text) ? JSON.parse(text, keepBigIntegers as (key: string, value: unknown) => unknown) : JSON.parse(text);
}

function metadataOf(value: unknown): Json | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const metadata = (value as Json).metadata;
  return typeof metadata === 'object' && metadata !== null ? (metadata as Json) : undefined;
}

function rewriteMetadata(value: unknown, map: (rv: string) => string | undefined, continueToo: boolean): boolean {
  const metadata = metadataOf(value);
  if (!metadata) return true;
  if (typeof metadata.resourceVersion === 'string') {
    const mapped = map(metadata.resourceVersion);
    if (mapped === undefined) return false;
    metadata.resourceVersion = mapped;
  }
  if (continueToo && typeof metadata.continue === 'string') {
    const mapped = mapContinueToken(metadata.continue, map);
    if (mapped === undefined) return false;
    metadata.continue = mapped;
  }
  return true;
}

/**
 * Rewrites every RV in one decoded API object, list, Table or watch event, in place. `map` returns
 * undefined to refuse a value (an older epoch in a request body); the function then returns false.
 */
export function rewriteObjectRVs(body: unknown, map: (rv: string) => string | undefined): boolean {
  if (typeof body !== 'object' || body === null) return true;
  const obj = body as Json;
  // A watch event: {type, object}. ERROR events carry a Status, which has no RV to change.
  if (typeof obj.type === 'string' && typeof obj.object === 'object' && obj.metadata === undefined) return rewriteObjectRVs(obj.object, map);
  if (!rewriteMetadata(obj, map, true)) return false;
  if (Array.isArray(obj.items)) {
    for (const item of obj.items) if (!rewriteMetadata(item, map, false)) return false;
  }
  if (obj.kind === 'Table' && Array.isArray(obj.rows)) {
    for (const row of obj.rows as Json[]) if (!rewriteMetadata(row?.object, map, false)) return false;
  }
  // DeleteOptions preconditions (request bodies of delete and deletecollection).
  const preconditions = obj.preconditions as Json | undefined;
  if (preconditions && typeof preconditions.resourceVersion === 'string') {
    const mapped = map(preconditions.resourceVersion);
    if (mapped === undefined) return false;
    preconditions.resourceVersion = mapped;
  }
  return true;
}

/** Presented -> backend for a request: undefined for an older epoch or an invalid value. */
export function requestRVMapper(codec: ShardRVCodec): (rv: string) => string | undefined {
  return (rv) => {
    const decoded = codec.decode(rv);
    return decoded.kind === 'current' || decoded.kind === 'unset' ? decoded.backendRV : undefined;
  };
}

/** Backend -> presented for a response. */
export function responseRVMapper(codec: ShardRVCodec): (rv: string) => string {
  return (rv) => codec.present(rv);
}
