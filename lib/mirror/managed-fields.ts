/**
 * Field ownership on a copy (server-side apply). A copy written by the synchronizer would list the
 * synchronizer as the manager of every field it wrote, and none of the owner's appliers: after a
 * hand-off, a second applier would then not share fields with the first, a conflict would name
 * `cluster-bridge-synchronizer`, and an applier dropping a field would not remove it. So a copy of an
 * object someone applied carries the owner's managedFields. The API server keeps managedFields a write
 * sends as they are, except that it gives the writer the fields the write changed: a write that changes
 * nothing else (the second write of writeCopy) leaves exactly the owner's entries.
 */
import { canonicalJson } from '../canonical-json.js';
import type { KubeObject } from '../kube/types.js';
import { SYNCHRONIZER_FIELD_MANAGER } from '../names.js';

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  subresource?: string;
  time?: string;
  [field: string]: unknown;
}

function entries(obj: KubeObject): ManagedFieldsEntry[] {
  const managed = obj.metadata.managedFields;
  return Array.isArray(managed) ? (managed as ManagedFieldsEntry[]) : [];
}

/** The owner's entries a copy carries: all but the synchronizer's own (those say what it wrote on the owner's side, as a copy). */
export function ownerManagedFields(owner: KubeObject): ManagedFieldsEntry[] {
  return entries(owner).filter((entry) => entry.manager !== SYNCHRONIZER_FIELD_MANAGER);
}

/** Whether anyone applied the object (server-side apply): only then does who owns which field change what a client sees. */
export function isApplied(owner: KubeObject): boolean {
  return ownerManagedFields(owner).some((entry) => entry.operation === 'Apply');
}

/**
 * The same owners of the same fields on both, timestamps aside (the API server sets them when it writes)
 * and status aside: a copy's status is written through /status by the synchronizer itself (workload
 * status, status-mirror.ts), and who owns it there changes nothing an applier of the object sees.
 */
export function sameManagedFields(owner: KubeObject, replica: KubeObject): boolean {
  const comparable = (list: ManagedFieldsEntry[]) =>
    canonicalJson(list.filter((entry) => entry.subresource !== 'status').map(({ time: _time, ...rest }) => rest));
  return comparable(ownerManagedFields(owner)) === comparable(entries(replica));
}

/** `copy` (the copy as stored) with the owner's entries, for a write that changes nothing else and so keeps them. */
export function withOwnerManagedFields(copy: KubeObject, owner: KubeObject): KubeObject {
  return { ...copy, metadata: { ...copy.metadata, managedFields: ownerManagedFields(owner) } };
}
