/**
 * What a shard mirror (shard-mirror.ts) works with: where the shard's type is served, each cluster as
 * a side (its REST client: calls and watches with the bridge's credentials), the counters it feeds, the progress
 * it reports to `bridgectl sync status`.
 */
import type { ClusterConnection } from '../lib/kube/cluster-connection.js';
import type { KubeRestClient } from '../lib/kube/rest-client.js';
import { SYNCHRONIZER_FIELD_MANAGER } from '../lib/names.js';
import type { DropReason } from '../lib/mirror/owner-references.js';
import type { ClusterSide, ShardKey } from '../lib/routing/types.js';
import type { LagSummary } from './lag-window.js';

export interface ShardApi {
  /** `/api/v1` or `/apis/apps/v1`. */
  prefix: string;
  resource: string;
  namespaced: boolean;
  /** The type's kind, from discovery (list items carry none): named by conflict Events. */
  kind?: string;
  /** For a custom resource: the name of its CRD, which must be Established on the replica before any copy (crd-readiness.ts). */
  crd?: string;
}

export interface MirrorSide {
  side: ClusterSide;
  /** REST calls and watches (KubeRestClient.watch) with the bridge's credentials. */
  rest: KubeRestClient;
}

export interface MirrorCounters {
  written(shard: ShardKey, direction: string, verb: 'create' | 'update' | 'delete'): void;
  failed(shard: ShardKey, direction: string, reason: string): void;
  /** A copy was written without one of the owner's references (lib/mirror/owner-references.ts says why). */
  ownerReferenceDropped(shard: ShardKey, direction: string, reason: DropReason): void;
  /** A replica object changed by someone else since the synchronizer wrote it was overwritten with the owner's version. */
  conflict(shard: ShardKey, direction: string): void;
  /** A watch event of the owner was written to the replica, `seconds` after the watch delivered it. */
  lag(shard: ShardKey, direction: string, seconds: number): void;
}

/** What `bridgectl sync status` shows of one shard (served on the ops port's /status). */
export interface MirrorProgress {
  shard: ShardKey;
  direction: string;
  /** reconciling: comparing a full list of the owner with the replica; watching: following changes. */
  phase: 'starting' | 'reconciling' | 'watching' | 'retrying' | 'waiting-for-crd' | 'paused';
  /**
   * The owner's objects this shard mirrors (a cluster's own objects excluded), and how many of them are
   * on the replica; during a reconcile, the objects of its list and how many it has processed.
   */
  total: number;
  done: number;
  /** The first full reconcile finished: the replica held every object of the owner at that revision. */
  initialSyncComplete: boolean;
  syncedRV: string;
  /** Watch events received and not yet applied, and how long the oldest has waited. */
  pendingEvents: number;
  oldestPendingMs: number;
  /** Failed writes and reads by reason since start (each is retried). */
  errors: Record<string, number>;
  lastError?: string;
  /** Replica objects changed behind the synchronizer's back and overwritten with the owner's version, since start. */
  conflicts: number;
  /** Owner change seen by the watch -> replica write acknowledged, over the last writes (lag-window.ts). */
  lag: LagSummary;
}

/** The path of the shard's collection in `namespace` (all namespaces when undefined), or of one object. */
export function objectPath(api: ShardApi, namespace: string | undefined, name?: string): string {
  const ns = api.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${api.prefix}${ns}/${api.resource}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
}

/**
 * `path` for a write: named field manager, so the API server records the synchronizer's managedFields
 * entries under it (without one it takes the User-Agent, and this client sends none: "unknown") and the
 * bridge can hide them from clients (lib/routing/object-identity.ts).
 */
export function asSynchronizer(path: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}fieldManager=${SYNCHRONIZER_FIELD_MANAGER}`;
}

/** A MirrorSide over a cluster connection: the bridge's own credentials, through the connection's REST client (calls and watches). */
export function mirrorSide(cluster: ClusterConnection): MirrorSide {
  return { side: cluster.side, rest: cluster.rest };
}
