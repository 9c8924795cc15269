/**
 * Conflicts (DESIGN.md section 5, issue 8 item 7), as a pure decision: before the synchronizer
 * overwrites a replica object with the owner's version, was that object changed by someone else since
 * the synchronizer last wrote it? The owner wins either way; a conflict is counted and reported.
 *
 * Evidence, strongest first:
 * - the synchronizer's own last write of the object, or the copy as it last found it equal to the
 *   owner's (remembered in memory: the replica UID, the resourceVersion, a fingerprint of the content
 *   the replica stored): the same
 *   resourceVersion, or the same content (a status or ownerReference change by the replica's own
 *   controllers), is no conflict; different content is;
 *   a copy missing although remembered was deleted by someone else, a conflict too (it is created again);
 * - without that memory (a restart, a new leader, a hand-off), the copy's mirror annotations: a copy
 *   written from the owner's current version (same uid and resourceVersion) must hold the owner's
 *   content, so different content is a conflict. When the owner changed since, the copy cannot be
 *   judged and no conflict is counted: never a false positive.
 * A same-named replica object the synchronizer never wrote is not a conflict (it is taken over, or
 * refused, as before).
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../canonical-json.js';
import { mirroredContent } from './copy.js';
import { MIRROR_OF_RV_ANNOTATION, MIRROR_OF_UID_ANNOTATION } from '../names.js';
import { type KubeObject } from '../kube/types.js';

/** What the synchronizer's last write of one object left in the replica. */
export interface OwnWrite {
  uid: string;
  resourceVersion: string;
  fingerprint: string;
}

export type NoConflictReason = 'unchanged-since-own-write' | 'same-content-as-own-write' | 'not-a-copy' | 'owner-changed-since-unknown-write' | 'never-copied';
export type ConflictReason = 'changed-since-own-write' | 'differs-from-owner-version-written' | 'deleted-since-own-write';
export type ConflictVerdict = { conflict: false; reason: NoConflictReason } | { conflict: true; reason: ConflictReason };

/**
 * The content a mirror is responsible for (lib/mirror/copy.ts mirroredContent: no server metadata,
 * status, mirror annotations or ownerReferences), hashed: kept in memory only, never written anywhere
 * (Secret data goes into it).
 */
export function contentFingerprint(obj: KubeObject): string {
  return createHash('sha256')
    .update(canonicalJson(mirroredContent(obj)))
    .digest('base64url');
}

/** The record of a write the replica acknowledged, from the object its API server answered with. */
export function ownWriteOf(stored: KubeObject): OwnWrite | undefined {
  const { uid, resourceVersion } = stored.metadata;
  return uid && resourceVersion ? { uid, resourceVersion, fingerprint: contentFingerprint(stored) } : undefined;
}

/**
 * Whether the replica's object, about to be overwritten with `owner`'s version, was changed behind the
 * synchronizer's back. `replica` null: there is none, so it is about to be created; with a memory of a
 * write (or of finding the copy equal), someone deleted the copy. Without memory a missing copy cannot be
 * told from one never copied (a new object, a restart): no conflict.
 */
export function judgeReplica(owner: KubeObject, replica: KubeObject | null, lastWrite: OwnWrite | undefined): ConflictVerdict {
  if (!replica) return lastWrite ? { conflict: true, reason: 'deleted-since-own-write' } : { conflict: false, reason: 'never-copied' };
  if (lastWrite && lastWrite.uid === replica.metadata.uid) {
    if (lastWrite.resourceVersion === replica.metadata.resourceVersion) return { conflict: false, reason: 'unchanged-since-own-write' };
    if (lastWrite.fingerprint === contentFingerprint(replica)) return { conflict: false, reason: 'same-content-as-own-write' };
    return { conflict: true, reason: 'changed-since-own-write' };
  }
  const annotations = replica.metadata.annotations ?? {};
  if (!owner.metadata.uid || annotations[MIRROR_OF_UID_ANNOTATION] !== owner.metadata.uid) return { conflict: false, reason: 'not-a-copy' };
  if (annotations[MIRROR_OF_RV_ANNOTATION] !== owner.metadata.resourceVersion) return { conflict: false, reason: 'owner-changed-since-unknown-write' };
  return contentFingerprint(replica) === contentFingerprint(owner)
    ? { conflict: false, reason: 'same-content-as-own-write' }
    : { conflict: true, reason: 'differs-from-owner-version-written' };
}
