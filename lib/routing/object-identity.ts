/**
 * One identity per object whichever cluster serves it (issue 20 item 4): the response step that shows
 * clients the original's UID and creationTimestamp (originalIdentity below), without the
 * bridge's own annotations and the synchronizer's managedFields entries. It composes with the RV
 * codec's rewriting (resource-version.ts) and, like it, walks objects, lists, Tables and watch events
 * in place, so the aggregator and the sidecar's local routing of moved shards present the same.
 */
import {
  MIRROR_OF_RV_ANNOTATION,
  MIRROR_OF_UID_ANNOTATION,
  ORIGINAL_CREATION_TIMESTAMP_ANNOTATION,
  ORIGINAL_UID_ANNOTATION,
  SYNCHRONIZER_FIELD_MANAGER,
} from '../names.js';
import { type KubeObject } from '../kube/types.js';

const MIRROR_ANNOTATIONS = [MIRROR_OF_UID_ANNOTATION, MIRROR_OF_RV_ANNOTATION, ORIGINAL_UID_ANNOTATION, ORIGINAL_CREATION_TIMESTAMP_ANNOTATION];
/** The bridge's own annotations: never shown to clients, never set by them (issue 21). */
export const BRIDGE_ANNOTATIONS: ReadonlySet<string> = new Set(MIRROR_ANNOTATIONS);

/** The UID and creationTimestamp clients are shown: the original's when the object is a copy (or a copy's copy). */
export function originalIdentity(obj: KubeObject): { uid: string | undefined; creationTimestamp: string | undefined } {
  const annotations = obj.metadata.annotations ?? {};
  return {
    uid: annotations[ORIGINAL_UID_ANNOTATION] || obj.metadata.uid,
    creationTimestamp: annotations[ORIGINAL_CREATION_TIMESTAMP_ANNOTATION] || (obj.metadata.creationTimestamp as string | undefined),
  };
}

type Json = Record<string, unknown>;

const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** One object's metadata as the original shows it; `uids` collects backend UID -> presented UID. */
function presentMetadata(value: unknown, uids?: Map<string, string>): void {
  if (!isRecord(value) || !isRecord(value.metadata)) return;
  const metadata = value.metadata;
  const annotations = metadata.annotations;
  if (isRecord(annotations)) {
    const { uid, creationTimestamp } = originalIdentity(value as KubeObject);
    if (typeof metadata.uid === 'string' && uid && uid !== metadata.uid) {
      uids?.set(metadata.uid, uid);
      metadata.uid = uid;
    }
    if (typeof metadata.creationTimestamp === 'string' && creationTimestamp) metadata.creationTimestamp = creationTimestamp;
    for (const key of Object.keys(annotations)) if (BRIDGE_ANNOTATIONS.has(key)) delete annotations[key];
    // kube-apiserver omits an empty map (omitempty).
    if (Object.keys(annotations).length === 0) delete metadata.annotations;
  }
  if (Array.isArray(metadata.managedFields)) {
    const kept = metadata.managedFields.filter((entry) => !isRecord(entry) || entry.manager !== SYNCHRONIZER_FIELD_MANAGER);
    if (kept.length === 0) delete metadata.managedFields;
    else if (kept.length !== metadata.managedFields.length) metadata.managedFields = kept;
  }
}

/**
 * Presents the original's identity in one decoded API object, list, Table or watch event, in place.
 * `uids`, when given, receives each backend UID replaced and the UID shown instead (for Status messages
 * of the same answer, presentStatusUids).
 */
export function presentOriginalIdentity(body: unknown, uids?: Map<string, string>): void {
  if (!isRecord(body)) return;
  if (typeof body.type === 'string' && isRecord(body.object) && body.metadata === undefined) return presentOriginalIdentity(body.object, uids);
  presentMetadata(body, uids);
  if (Array.isArray(body.items)) for (const item of body.items) presentMetadata(item, uids);
  if (body.kind === 'Table' && Array.isArray(body.rows)) for (const row of body.rows) if (isRecord(row)) presentMetadata(row.object, uids);
}

/**
 * A Status answer that names a backend UID (a precondition's 409: "UID in object meta: <uid>") names
 * the UID the client was shown instead, as kube-apiserver would have worded it for the original.
 */
export function presentStatusUids(body: unknown, uids: ReadonlyMap<string, string>): void {
  if (!isRecord(body) || body.kind !== 'Status' || typeof body.message !== 'string' || uids.size === 0) return;
  let message = body.message;
  for (const [backend, presented] of uids) message = message.replaceAll(backend, presented);
  body.message = message;
}
