/**
 * The continue token of a merged list (ns-design section 3): the bridge's own, since neither backend's
 * token spans both. A merged list pages through the source first, then the destination at the exact
 * revision its first page fixed; the token says which side is paging, that side's own token, and the
 * list's merged resourceVersion (which holds both sides' revisions). Versioned base64url JSON.
 */
import type { ClusterSide } from '../../lib/routing/types.js';

const VERSION = 'bridge.merged/v1';

export interface MergedContinue {
  /** The list's merged resourceVersion (decimal): its two revisions, decoded by the current merged epoch. */
  rv: string;
  /** The side the next page comes from. */
  side: ClusterSide;
  /** That side's own continue token; '' to start the destination from its first item. */
  token: string;
}

export function encodeMergedContinue(next: MergedContinue): string {
  return Buffer.from(JSON.stringify({ v: VERSION, rv: next.rv, side: next.side, token: next.token }), 'utf8').toString('base64url');
}

/** The token's fields, or undefined for a token the bridge did not write (400, as kube-apiserver answers a bad one). */
export function decodeMergedContinue(token: string): MergedContinue | undefined {
  let value: { v?: unknown; rv?: unknown; side?: unknown; token?: unknown };
  try {
    value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as typeof value;
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || value.v !== VERSION) return undefined;
  if (typeof value.rv !== 'string' || !/^\d+$/.test(value.rv) || typeof value.token !== 'string') return undefined;
  if (value.side !== 'source' && value.side !== 'destination') return undefined;
  if (value.side === 'source' && value.token === '') return undefined;
  return { rv: value.rv, side: value.side, token: value.token };
}
