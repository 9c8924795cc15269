/**
 * The request side of one identity per object (issue 20 item 4, issue 21), as pure decisions on a
 * decoded JSON body; the aggregator reads the stored object they need (aggregator/request/write-identity.ts):
 * - the UIDs a client presents of the target (`preconditions.uid` of a delete, `metadata.uid` of an
 *   update or patch) are the original's (object-identity.ts); each is replaced by the backend object's
 *   own UID only when that object's original identity is the one presented. Otherwise the precondition
 *   is passed on unchanged: the backend refuses it with its own 409 (never dropped);
 * - an update (PUT) replaces the object's annotations: the stored object's marks are put back, since
 *   the client was never shown them;
 * - no write may set, change or remove the bridge's own annotations (refused by the caller with 422).
 */
import { BRIDGE_ANNOTATIONS, originalIdentity } from './object-identity.js';
import { type KubeObject } from '../kube/types.js';

type Json = Record<string, unknown>;

const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** How a write body applies to the object: replaces it (create, update, apply) or patches it. */
export type BodyKind = 'object' | 'merge-patch' | 'json-patch';

export function bodyKindOf(verb: string, contentType: string): BodyKind | undefined {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (verb === 'patch') {
    if (type === 'application/json-patch+json') return 'json-patch';
    if (type === 'application/merge-patch+json' || type === 'application/strategic-merge-patch+json') return 'merge-patch';
    if (type === 'application/apply-patch+yaml' || type === 'application/apply-patch+json') return 'object';
    return undefined;
  }
  return (verb === 'create' || verb === 'update') && type === 'application/json' ? 'object' : undefined;
}

function annotationsOf(value: unknown): Json | undefined {
  if (!isRecord(value) || !isRecord(value.metadata)) return undefined;
  const annotations = value.metadata.annotations;
  return isRecord(annotations) ? annotations : undefined;
}

/** `/metadata/annotations/<key>` of a JSON Patch path (RFC 6901 escapes undone), or undefined. */
function jsonPatchAnnotation(path: unknown): string | undefined {
  if (typeof path !== 'string') return undefined;
  const segments = path.split('/').map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
  return segments.length === 4 && segments[0] === '' && segments[1] === 'metadata' && segments[2] === 'annotations' ? segments[3] : undefined;
}

/**
 * The bridge annotations a write would set, change or remove. `stored`: the object an update replaces,
 * whose marks it may carry unchanged (a client that read the object from a backend directly).
 */
export function bridgeAnnotationEdits(body: unknown, kind: BodyKind, stored?: KubeObject): string[] {
  const edits = new Set<string>();
  if (kind === 'json-patch') {
    for (const op of Array.isArray(body) ? body : []) {
      if (!isRecord(op)) continue;
      for (const key of [jsonPatchAnnotation(op.path), op.op === 'move' ? jsonPatchAnnotation(op.from) : undefined])
        if (key !== undefined && BRIDGE_ANNOTATIONS.has(key) && op.op !== 'test') edits.add(key);
    }
    return [...edits];
  }
  const annotations = annotationsOf(body) ?? {};
  const marks = stored?.metadata.annotations ?? {};
  for (const [key, value] of Object.entries(annotations)) {
    if (!BRIDGE_ANNOTATIONS.has(key)) continue;
    // A merge patch names a key only to set or remove it; an object may repeat the stored value.
    if (kind === 'merge-patch' || !stored || marks[key] !== value) edits.add(key);
  }
  return [...edits];
}

/** The UIDs the body presents of its target: a delete's precondition, an update's or patch's metadata.uid. */
export function presentedTargetUids(body: unknown): string[] {
  if (!isRecord(body)) return [];
  const uids: unknown[] = [isRecord(body.preconditions) ? body.preconditions.uid : undefined, isRecord(body.metadata) ? body.metadata.uid : undefined];
  return uids.filter((uid): uid is string => typeof uid === 'string' && uid !== '');
}

/** Presented -> backend UID for the stored target: set only when the backend object shows another identity. */
export function targetUidMap(stored: KubeObject | undefined): Map<string, string> {
  const uids = new Map<string, string>();
  const backend = stored?.metadata.uid;
  const presented = stored ? originalIdentity(stored).uid : undefined;
  if (backend && presented && presented !== backend) uids.set(presented, backend);
  return uids;
}

/** The same pairs the other way round (backend -> presented), for the answer. */
export function reversed(uids: ReadonlyMap<string, string>): Map<string, string> {
  return new Map([...uids].map(([presented, backend]) => [backend, presented]));
}

/**
 * Maps the presented UIDs of the body by `uids` (presented -> backend), in place: the delete
 * precondition, metadata.uid, ownerReferences[].uid. With `restoreFrom` (the object an update
 * replaces), its bridge marks are put back; an update that carries no resourceVersion is then pinned to
 * that object's UID, so marks read from it never land on a same-named object created in between.
 * Returns whether anything changed.
 */
export function rewriteRequestIdentity(body: unknown, uids: ReadonlyMap<string, string>, restoreFrom?: KubeObject): boolean {
  if (!isRecord(body)) return false;
  let changed = false;
  const map = (holder: Json, field: string) => {
    const value = holder[field];
    const mapped = typeof value === 'string' ? uids.get(value) : undefined;
    if (mapped !== undefined) {
      holder[field] = mapped;
      changed = true;
    }
  };
  if (isRecord(body.preconditions)) map(body.preconditions, 'uid');
  const metadata = body.metadata;
  if (!isRecord(metadata)) return changed;
  map(metadata, 'uid');
  if (Array.isArray(metadata.ownerReferences)) for (const ref of metadata.ownerReferences) if (isRecord(ref)) map(ref, 'uid');
  const marks = Object.entries(restoreFrom?.metadata.annotations ?? {}).filter(([key]) => BRIDGE_ANNOTATIONS.has(key));
  if (marks.length > 0) {
    const annotations = isRecord(metadata.annotations) ? metadata.annotations : {};
    for (const [key, value] of marks) annotations[key] = value;
    metadata.annotations = annotations;
    if (!metadata.resourceVersion && !metadata.uid && restoreFrom?.metadata.uid) metadata.uid = restoreFrom.metadata.uid;
    changed = true;
  }
  return changed;
}
