/**
 * The routing contract shared by the aggregator, the sidecar (local routing), the synchronizer and
 * the rollout controller (DESIGN.md section 3). Types only: the functions live beside them
 * (request-info.ts, resource-classes.ts, shard-hash.ts, routing-table.ts, resource-version.ts) and are
 * pure, so every replica and every sidecar decides identically.
 */

/** The two API servers. `source` is where pods run; `destination` is where the control plane moves. */
export type ClusterSide = 'source' | 'destination';

/** What kube-apiserver's RequestInfo says about a request (k8s.io/apiserver/pkg/endpoints/request). */
export interface RequestInfo {
  /** false for /version, /healthz, /openapi/..., /api, /apis (discovery) and other non-resource paths. */
  isResourceRequest: boolean;
  /** The URL path without the query. */
  path: string;
  /**
   * get, list, watch, create, update, patch, delete, deletecollection, exactly as kube-apiserver's
   * RequestInfoFactory sets it (connect subresources too: a POST to `exec` is create, a GET is get);
   * `proxy` or `watch` for the legacy `/proxy/` and `/watch/` paths. For non-resource requests: the
   * lower-cased HTTP method.
   */
  verb: string;
  /** `api` or `apis`, empty for non-resource requests. */
  apiPrefix: string;
  /** Empty for the core group. */
  apiGroup: string;
  apiVersion: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
  /** The request's field and label selectors, for list, watch and deletecollection (what kube-apiserver authorizes with). */
  fieldSelector?: string;
  labelSelector?: string;
  /** The target is one Go's server refuses with 400 (a malformed escape, the absolute form): routed to the source, which answers it. */
  malformed?: boolean;
}

/** `movable`: mirrored and routed by shard. `located`: always the source. `system`: never moved or mirrored. */
export type ResourceClass = 'movable' | 'located' | 'system';

/** One group/resource, e.g. `{ group: 'apps', resource: 'deployments' }` (core group: `''`). */
export interface GroupResource {
  group: string;
  resource: string;
}

/**
 * The unit of authority. A *type shard* is one movable resource type across all namespaces, named as
 * kubectl names it (`configmaps`, `deployments.apps`, `widgets.example.com`). A *namespace shard* is
 * every carried type (RoutingTable.namespaceTypes) of one namespace, named `namespace/<name>`
 * (shard-hash.ts namespaceShardKey); resource names have no `/`, so the two never collide.
 */
export type ShardKey = string;

/** One resourceVersion epoch of a shard: presented RV = backend RV + offset (decimal, < 2^63). */
export interface Epoch {
  /** 0, 1, 2, ...; epoch 0 is the source with offset 0, so before any move RVs are the source's. */
  epoch: number;
  backend: ClusterSide;
  /**
   * Decimal string (bigint). Chosen at the owner change so that every RV presented in this epoch is
   * greater than every RV presented in earlier epochs: offset(e+1) = offset(e) + the old backend's
   * revision once writes were held and the shard's watches closed + HANDOFF_RV_MARGIN
   * (routing-table.ts). Presented RVs of epoch e therefore lie in (offset(e), offset(e+1)], which makes
   * decoding unambiguous even for objects last written long before the epoch began.
   */
  offset: string;
  /** When the epoch started (RFC 3339), for status and history. */
  startedAt: string;
}

/**
 * One epoch of the merged resourceVersion sequence (docs/adr/0025): the RVs a cluster-wide list or
 * watch of a carried type presents while its namespaces are split between the two clusters. A presented
 * merged RV is `MERGED_RV_BASE + offset + (s - source) * 2^MERGED_DESTINATION_BITS + (d - destination)`
 * for the source revision s and destination revision d of the reader's position (lib/routing/merged-rv.ts).
 * A new epoch starts at every namespace shard's owner change and before a delta overflows.
 */
export interface MergedEpoch {
  epoch: number;
  /** Decimal string (bigint), relative to MERGED_RV_BASE; grows with every epoch. */
  offset: string;
  /** The source's revision at the epoch's start: the smallest source revision it encodes. */
  source: string;
  /** The destination's revision at the epoch's start. */
  destination: string;
  startedAt: string;
}

/** A shard's authority: who serves it now, and every epoch it has had (never shrinks). */
export interface ShardState {
  shard: ShardKey;
  owner: ClusterSide;
  epochs: Epoch[];
  /** Set while the shard changes owner: writes get 503 + Retry-After until the hand-off completes. */
  /** `by`: the aggregator replica running it, so a successor can tell an abandoned hold from a live one. */
  handoff?: { to: ClusterSide; startedAt: string; by?: string };
}

/**
 * What the data path routes by: a snapshot of every shard's state, versioned so sidecars and replicas
 * can tell a newer table from an older one. Shards absent from `shards` are owned by the source in
 * epoch 0. Persisted with the plan (the BridgeRollout's status) so every replica decodes alike.
 */
export interface RoutingTable {
  /** Increases with every change (a hand-off start or end). */
  generation: number;
  shards: Record<ShardKey, ShardState>;
  /** Per-plan overrides of the default class table (`configmaps` -> `located`, ...). */
  classOverrides?: Record<ShardKey, ResourceClass>;
  /**
   * The types namespace shards carry (type shard keys of movable namespaced types). A namespaced
   * request of one of them is routed by its namespace's shard; none of them may have a type shard.
   */
  namespaceTypes?: ShardKey[];
  /** The merged resourceVersion epochs (never shrinks); present once any namespace shard has moved. */
  merged?: { epochs: MergedEpoch[] };
}

/** One stage of a rollout plan: the shards taking part (names or `*` for every movable one) and F. */
export interface PlanStage {
  name: string;
  shards: ShardKey[] | ['*'];
  /** F in [0, 1]: a selected shard's desired owner is the destination iff hash(shard) < F. */
  fraction: number;
}

/** Why a request went where it went: the same codes feed logs and the metric `reason` label. */
export type RouteReason =
  'non-resource-source' | 'discovery-source' | 'system-namespace' | 'located' | 'system-resource' | 'shard-owner' | 'shard-handoff-hold' | 'namespaces-split';

export interface RouteDecision {
  /**
   * `hold`: a write to a shard that is changing owner; answer 503 with Retry-After. `merged`: a
   * cluster-wide read of a carried type whose namespaces are split (or were: once merged RVs were
   * presented, always merged), answered from both clusters (aggregator only; sidecars send it there).
   */
  target: ClusterSide | 'hold' | 'merged';
  reason: RouteReason;
  /** Set for movable resources: the shard and its state, for RV rewriting. */
  shard?: ShardKey;
}

/**
 * Where the routing table lives: the ConfigMap ROUTING_TABLE_CONFIGMAP (key `table.json`) in the
 * destination's SYSTEM_NAMESPACE, replaced only with a resourceVersion precondition so two replicas
 * never both win. It is separate from the BridgeRollout so the data path works (and keeps decoding
 * RVs) without the CRD; the rollout controller copies it into the rollout's status for display.
 */
export interface RoutingTableStore {
  load(): Promise<{ table: RoutingTable; version: string }>;
  /** Rejects with BRIDGE_ERR_KUBE_API (HTTP 409) when `version` is no longer current. */
  replace(table: RoutingTable, version: string): Promise<{ version: string }>;
  /** Calls back on every change (from any replica); returns a stop function. */
  watch(onChange: (table: RoutingTable) => void): () => void;
}

/**
 * Changes one shard's owner (a stage step or a rollback): holds writes, waits for the synchronizer to
 * catch up (lib/mirror/catchup.ts), persists the new epoch, closes open watches on the shard. Implemented by
 * the aggregator; called by the rollout controller and `bridgectl advance|rollback`.
 */
export interface OwnerChanger {
  changeOwner(shard: ShardKey, to: ClusterSide, reason: string): Promise<{ epoch: Epoch; heldWritesMs: number }>;
}
