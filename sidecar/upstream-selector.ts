/**
 * Which backend serves one request: the configured upstream (the aggregator) or the local source API
 * server. The choice is a pluggable, pure function of the request head; `allToUpstream` sends
 * everything to the aggregator, and the sidecar's local routing (sidecar/local-route-decision.ts,
 * DESIGN.md section 3) sends what the source serves straight to it.
 */
import type { ShardRVCodec } from '../lib/routing/resource-version.js';

/** `upstream`: the configured BRIDGE_UPSTREAM (aggregator). `local`: the source API server. */
export type UpstreamTarget = 'upstream' | 'local';

export type SelectReason =
  /** Local routing off: everything goes to the aggregator, which routes. */
  | 'default-upstream'
  /** Local: a shard the source owns in epoch 0 (never moved, so its resourceVersions need no rewriting). */
  | 'source-owned-shard'
  /** Local: a shard the source owns again after moves: the sidecar applies its epoch's resourceVersion offset both ways. */
  | 'source-owned-offset'
  /** Local: a non-resource path (/version, /healthz...) the aggregator would send to the source. */
  | 'non-resource'
  /** Local: discovery and OpenAPI, served from the source. */
  | 'discovery'
  /** Local: pods, nodes, events... what physically runs in the source. */
  | 'located'
  /** Local: system namespaces and the cluster's own machinery, never moved. */
  | 'system'
  /** Upstream: no routing table fetched yet. */
  | 'no-table'
  /** Upstream: the table is older than the configured bound (the aggregator may have moved shards since). */
  | 'table-stale'
  /** Upstream: the destination owns the shard. */
  | 'destination-owned'
  /** Upstream: the shard is changing owner (writes are held there, reads answered there). */
  | 'shard-handoff'
  /** Upstream: a cluster-wide read of a type whose namespaces are split; the aggregator merges both clusters' answers. */
  | 'namespaces-split'
  /**
   * Upstream: a request to a source-owned shard with a resourceVersion offset that the sidecar does not
   * rewrite itself (a write whose body is not JSON, an upgrade); the aggregator rewrites it.
   */
  | 'shard-rv-offset'
  /** Upstream: a read of a shard about to move, whose reads the aggregator shadows (compares with the destination). */
  | 'shard-shadowed'
  /** Upstream: a local write whose body is larger than the buffer that a fenced retry needs. */
  | 'write-body-over-limit'
  /** Upstream: a local write with a chunked body of unknown length. */
  | 'write-body-unknown-length'
  /** Upstream: the source's fence refused the write sent locally; sent once more through the aggregator. */
  | 'fence-retry'
  /** Upstream: a write to a shard with an RV offset that needs the aggregator's identity step (sidecar/offset-rewrite.ts needsIdentityStep). */
  | 'offset-identity-step';

export interface RequestHead {
  method: string;
  /** Path and query as the client sent it. */
  url: string;
}

export interface UpstreamChoice {
  target: UpstreamTarget;
  reason: SelectReason;
  /** The shard of a movable resource (local watches on it are closed when it stops being local). */
  shard?: string;
  /** A local write to a shard: the source's fence may refuse it, and then it goes to the aggregator once. */
  fenceable?: boolean;
  /** A local request to a shard whose epoch has an offset: its resourceVersions are rewritten with this codec. */
  codec?: ShardRVCodec;
}

export interface UpstreamSelector {
  select(head: RequestHead): UpstreamChoice;
  /** Fetches the routing table again now (after a fenced write); resolves when done or given up. */
  refresh?(): Promise<void>;
  /**
   * Registers a local long-running request (a watch) on a shard, opened in the shard's `epoch`; `close` is
   * called when the shard stops being served locally in that epoch. Returns the function that unregisters it.
   */
  trackLocalStream?(shard: string, epoch: number, close: () => void): () => void;
}

const TO_UPSTREAM: UpstreamChoice = Object.freeze({ target: 'upstream', reason: 'default-upstream' });

/** Sends everything to the configured upstream; allocation-free on the hot path. */
export const allToUpstream: UpstreamSelector = { select: () => TO_UPSTREAM };
