/**
 * The Kubernetes Event a conflict leaves on the replica's object (reason MirrorConflict, type
 * Warning), so `kubectl describe` and `kubectl get events` show who won: it names the two sides and
 * the owner version written, never any of the object's content (Secret data stays out).
 */
import { randomBytes } from 'node:crypto';
import type { KubeObject } from '../lib/kube/types.js';
import type { ClusterSide } from '../lib/routing/types.js';

export const CONFLICT_REASON = 'MirrorConflict';
export const EVENT_COMPONENT = 'cluster-bridge-synchronizer';

export interface ConflictFacts {
  shard: string;
  owner: ClusterSide;
  replica: ClusterSide;
  /** apiVersion and kind of the shard's type (list items carry neither). */
  apiVersion: string;
  kind: string;
  /** The replica's object as the synchronizer's overwrite (or, after a deletion, its new create) left it. */
  written: KubeObject;
  ownerResourceVersion: string;
  /** The copy had been deleted in the replica: the Event goes on the copy created again (the deleted one cannot hold it). */
  deleted?: boolean;
}

/** A core/v1 Event about the overwritten object, in its namespace (`default` for a cluster-scoped object, as kubectl does). */
export function conflictEvent(facts: ConflictFacts, now = new Date()): KubeObject {
  const { name, namespace, uid, resourceVersion } = facts.written.metadata;
  const at = now.toISOString().replace(/\.\d+Z$/, 'Z');
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${name}.${now.getTime().toString(16)}${randomBytes(3).toString('hex')}`, namespace: namespace ?? 'default' },
    involvedObject: { apiVersion: facts.apiVersion, kind: facts.kind, name, ...(namespace ? { namespace } : {}), uid, resourceVersion },
    reason: CONFLICT_REASON,
    type: 'Warning',
    message:
      `${facts.kind} ${namespace ? `${namespace}/` : ''}${name} was ${facts.deleted ? 'deleted' : 'changed'} in the ${facts.replica} cluster since the synchronizer last wrote it; ` +
      `the ${facts.owner} cluster owns shard ${facts.shard}, so ${facts.deleted ? 'it was created again from' : 'that change was overwritten with'} the ${facts.owner}'s version (resourceVersion ${facts.ownerResourceVersion})`,
    source: { component: EVENT_COMPONENT },
    firstTimestamp: at,
    lastTimestamp: at,
    count: 1,
  };
}
