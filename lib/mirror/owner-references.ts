/**
 * Owner references across clusters (DESIGN.md section 5), as pure decisions: a copy keeps each
 * ownerReference with its UID remapped to the UID of the owner's copy in the replica cluster, so the
 * replica's garbage collector sees the same chain as the owner's. The facts about each owner (its
 * type's shard, the same-named object on each side) are read by synchronizer/owner-resolver.ts.
 *
 * The rule, owners before dependents:
 * - an owner whose type is not mirrored, or that is never copied (a cluster's own object), is dropped
 *   from the copy: no object in the replica can stand for it;
 * - an owner that is mirrored but not copied yet (or gone from the owner's cluster, whose garbage
 *   collector is about to act) defers the whole dependent: it is retried like a refused object;
 * - a replica object counts as the owner's copy only if its mirror-of-uid annotation is the reference's
 *   UID; a same-named object not made from that owner never does.
 */
import { skipReason } from './copy.js';
import { MIRROR_OF_UID_ANNOTATION } from '../names.js';
import { type KubeObject, type OwnerReference } from '../kube/types.js';
import type { ShardKey } from '../routing/types.js';

export type DropReason = 'owner-not-mirrored' | 'owner-never-copied' | 'invalid-reference';
export type DeferReason = 'owner-not-copied' | 'owner-gone';

export type OwnerDecision =
  /**
   * copy-of-owner: the replica's object is the owner's copy; original-of-copy: the owner's object is a
   * copy of the replica's (its shard mirrors the other way).
   */
  { action: 'map'; uid: string; via: 'copy-of-owner' | 'original-of-copy' } | { action: 'drop'; reason: DropReason } | { action: 'defer'; reason: DeferReason };

export interface OwnerFacts {
  /** The owner type's shard when the synchronizer mirrors it (either way); undefined: not mirrored, or a type the server does not serve. */
  shard: ShardKey | undefined;
  /** The object of that type and name in the replica cluster; null when there is none. */
  replica: KubeObject | null;
  /** The same in the owner's cluster; null when there is none. Not needed (undefined) when the replica's object is the owner's copy. */
  owner?: KubeObject | null;
}

export const mirrorOfUid = (obj: KubeObject): string | undefined => obj.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION] || undefined;

/** The replica's object was written by the mirror from the very object the reference names. */
export function isCopyOf(ref: OwnerReference, replica: KubeObject | null): replica is KubeObject & { metadata: { uid: string } } {
  return !!replica?.metadata.uid && mirrorOfUid(replica) === ref.uid;
}

export function decideOwner(ref: OwnerReference, facts: OwnerFacts): OwnerDecision {
  if (!facts.shard) return { action: 'drop', reason: 'owner-not-mirrored' };
  if (isCopyOf(ref, facts.replica)) return { action: 'map', uid: facts.replica.metadata.uid, via: 'copy-of-owner' };
  const owner = facts.owner;
  // The owner's garbage collector deletes the dependent (or removes the reference) soon: write neither version.
  if (!owner || owner.metadata.uid !== ref.uid) return { action: 'defer', reason: 'owner-gone' };
  const original = mirrorOfUid(owner);
  if (original !== undefined) {
    return facts.replica?.metadata.uid === original
      ? { action: 'map', uid: original, via: 'original-of-copy' }
      : { action: 'defer', reason: 'owner-not-copied' };
  }
  const skip = skipReason(facts.shard, owner);
  if (skip && skip !== 'terminating') return { action: 'drop', reason: 'owner-never-copied' };
  return { action: 'defer', reason: 'owner-not-copied' };
}

export interface RemapResult {
  /** The references the copy carries, in the owner's order, each with the replica's UID. */
  references: OwnerReference[];
  dropped: { ref: OwnerReference; reason: DropReason }[];
  /** The first reference that holds the dependent back; the copy must not be written while set. */
  deferred?: { ref: OwnerReference; reason: DeferReason };
}

/** Applies one decision per reference (`decisions[i]` for `refs[i]`). */
export function remapOwnerReferences(refs: readonly OwnerReference[], decisions: readonly OwnerDecision[]): RemapResult {
  const result: RemapResult = { references: [], dropped: [] };
  refs.forEach((ref, i) => {
    const decision = decisions[i];
    if (!decision) throw new RangeError(`no decision for owner reference ${i}`);
    if (decision.action === 'map') result.references.push({ ...ref, uid: decision.uid });
    else if (decision.action === 'drop') result.dropped.push({ ref, reason: decision.reason });
    else result.deferred ??= { ref, reason: decision.reason };
  });
  return result;
}

/** The object's owner references that name an owner completely (the API server requires all four fields). */
export function ownerReferencesOf(obj: KubeObject): OwnerReference[] {
  const refs = obj.metadata.ownerReferences ?? [];
  return refs.filter((r): r is OwnerReference => {
    const ref = r as Partial<OwnerReference> | null;
    return !!ref && [ref.apiVersion, ref.kind, ref.name, ref.uid].every((v) => typeof v === 'string' && v !== '');
  });
}
