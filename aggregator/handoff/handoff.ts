/**
 * Changing a shard's owner (DESIGN.md section 3), the aggregator's OwnerChanger: hold the shard's
 * writes, let writes already sent finish, close its watches, read the old owner's revision, wait for
 * the synchronizer to have everything up to it on the other side, then persist the new epoch and
 * release. Any failure aborts: the old owner keeps serving and nothing acknowledged is lost.
 */
import type { CatchUp } from '../../lib/mirror/catchup.js';
import { BridgeError, errorMessage, isBridgeError } from '../../lib/errors.js';
import type { Logger } from '../../lib/process/logger.js';
import { abortHandoff, beginHandoff, completeHandoff, shardState } from '../../lib/routing/routing-table.js';
import { checkShardServed, notMirrored, ShardRefused } from '../../lib/routing/shard-validation.js';
import { appendMergedEpoch } from '../../lib/routing/merged-rv.js';
import { checkShardKind, withNamespaceTypes } from '../../lib/routing/namespace-shards.js';
import { DEFAULT_NAMESPACE_TYPES } from '../../lib/routing/resource-classes.js';
import { namespaceOfShard } from '../../lib/routing/shard-hash.js';
import type { ClusterSide, Epoch, OwnerChanger, RoutingTable, RoutingTableStore, ShardKey } from '../../lib/routing/types.js';
import { currentRevision, type ClusterConnection } from '../../lib/kube/cluster-connection.js';
import type { AggregatorMetrics } from '../metrics.js';
import type { RoutingState } from '../../lib/routing/routing-state.js';
import { watchKeysOf, type ShardActivity } from './shard-activity.js';

export interface HandoffDeps {
  store: RoutingTableStore;
  routing: RoutingState;
  activity: ShardActivity;
  clusters: Record<ClusterSide, ClusterConnection>;
  catchUp: CatchUp;
  metrics: AggregatorMetrics;
  log: Logger;
  catchUpTimeoutMs: number;
  /** The types namespace shards carry (the aggregator's BRIDGE_NAMESPACE_TYPES), set in the table at the first namespace hand-off. */
  namespaceTypes?: readonly ShardKey[];
  /**
   * Makes the source's fence match a table and waits until it is enforced (aggregator/handoff/fencing.ts).
   * Called with the table-to-be while the shard's writes are still held.
   */
  fence?: (table: RoutingTable, changing: ShardKey) => Promise<void>;
  /** Throws when the source cannot enforce the fence (fence-support.ts): no shard may then move to the destination. */
  assertFenceable?: (shard: ShardKey) => Promise<void>;
  /** The other replicas (replica-presence.ts): waited for until each routes by the hold, or is gone. */
  replicas?: { readonly identity: string; waitForReplicas(generation: number, timeoutMs: number): Promise<void> };
  /** The longest that wait may take: a dead replica's Lease must have expired by then. */
  replicaWaitMs?: number;
}

/** How long in-flight writes to a held shard may take to finish, in any replica. */
export const WRITE_DRAIN_MS = 10_000;

/**
 * The table a hand-off of `shard` would start from, built and checked (namespace-shards.ts: a system or
 * malformed namespace, carried types clashing with type shards). Such a refusal never changes by
 * retrying: a ShardRefused, asked again rarely (owner-reconciler.ts), not every few seconds.
 */
function refusedUnlessKind(build: () => RoutingTable, shard: ShardKey): RoutingTable {
  try {
    const table = build();
    checkShardKind(table, shard);
    return table;
  } catch (err) {
    if (!isBridgeError(err, 'BRIDGE_ERR_ROUTING')) throw err;
    throw new ShardRefused(err.message, err.fix);
  }
}

/** Tries of a table write that loses its compare-and-swap to an unrelated write. */
const PERSIST_ATTEMPTS = 3;

/** The routing table store's replace lost its resourceVersion precondition (lib/routing/configmap-store.ts). */
function isStoreConflict(err: unknown): boolean {
  return isBridgeError(err, 'BRIDGE_ERR_KUBE_API') && err.apiStatus === 409;
}

export class ShardHandoff implements OwnerChanger {
  private readonly running = new Set<ShardKey>();

  constructor(private readonly deps: HandoffDeps) {}

  /** True while this process is changing the shard's owner (its hold is not an abandoned one). */
  isChanging(shard: ShardKey): boolean {
    return this.running.has(shard);
  }

  /** The longest a live hand-off can hold writes; a hold older than this was abandoned. */
  get maxHoldMs(): number {
    return (this.deps.replicaWaitMs ?? 0) + WRITE_DRAIN_MS + this.deps.catchUpTimeoutMs + 10_000;
  }

  private async persist(table: RoutingTable): Promise<void> {
    const { version } = await this.deps.store.replace(table, this.deps.routing.version);
    this.deps.routing.update(table, version);
  }

  /**
   * Persists `make(table)` and returns it; when the compare-and-swap is lost (a merged read persisted
   * a merged epoch, docs/adr/0027, or another replica wrote), reads the table back and makes it again
   * from there: held writes must not wait for the next reconcile because of an unrelated write.
   */
  private async persistRebased(make: (table: RoutingTable) => Promise<RoutingTable> | RoutingTable): Promise<RoutingTable> {
    for (let attempt = 1; ; attempt++) {
      const next = await make(this.deps.routing.table);
      try {
        await this.persist(next);
        return next;
      } catch (err) {
        if (attempt >= PERSIST_ATTEMPTS || !isStoreConflict(err)) throw err;
        const { table, version } = await this.deps.store.load();
        this.deps.routing.update(table, version);
      }
    }
  }

  async changeOwner(shard: ShardKey, to: ClusterSide, reason: string): Promise<{ epoch: Epoch; heldWritesMs: number }> {
    if (this.running.has(shard)) throw new BridgeError('BRIDGE_ERR_ROUTING', `shard ${shard} is already changing owner in this process`);
    this.running.add(shard);
    try {
      return await this.change(shard, to, reason);
    } finally {
      this.running.delete(shard);
    }
  }

  /**
   * Before anything is held (issue 21): a shard either cluster does not serve, or that the synchronizer
   * does not mirror (asked without waiting, which changes nothing there), would hold its writes for a
   * catch-up that cannot come, then abort, and be retried for ever.
   */
  private async checkShard(shard: ShardKey, from: ClusterSide): Promise<void> {
    await checkShardServed(this.deps.clusters.source.rest, shard, 'source');
    await checkShardServed(this.deps.clusters.destination.rest, shard, 'destination');
    await this.checkMirrored(shard, from);
  }

  private async checkMirrored(shard: ShardKey, from: ClusterSide): Promise<void> {
    try {
      await this.deps.catchUp.status({ shard, from, rv: '0' });
    } catch (err) {
      if (/is not mirrored/.test(errorMessage(err))) throw notMirrored(shard, errorMessage(err));
      throw err; // the synchronizer cannot answer now: holding writes for it would be for nothing
    }
  }

  /**
   * A namespace shard: its namespace exists on the source, and every carried type is served by both
   * clusters and mirrored, so the catch-up of the namespace (`shard=namespace/<name>`) covers it. The
   * synchronizer mirrors per namespace once the table carries the types (it follows the table): asked
   * for the namespace shard then, for each carried type as a type shard before the first hold.
   */
  private async checkNamespaceShard(shard: ShardKey, namespace: string, carried: readonly ShardKey[], from: ClusterSide): Promise<void> {
    const got = await this.deps.clusters.source.rest.request('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}`);
    if (got.status === 404) throw new ShardRefused(`namespace ${namespace} does not exist on the source`, 'name an existing application namespace');
    if (got.status !== 200) throw new BridgeError('BRIDGE_ERR_KUBE_API', `reading namespace ${namespace} on the source: HTTP ${got.status}`);
    for (const type of carried) {
      await checkShardServed(this.deps.clusters.source.rest, type, 'source');
      await checkShardServed(this.deps.clusters.destination.rest, type, 'destination');
    }
    const followsTable = (this.deps.routing.table.namespaceTypes?.length ?? 0) > 0;
    for (const asked of followsTable ? [shard] : carried) await this.checkMirrored(asked, from);
  }

  /** The table a hand-off of `shard` starts from: for a namespace shard, with the carried types set (fixed once set). */
  private startingTable(shard: ShardKey): RoutingTable {
    const table = this.deps.routing.table;
    if (namespaceOfShard(shard) === undefined) return table;
    return withNamespaceTypes(table, this.deps.namespaceTypes ?? table.namespaceTypes ?? DEFAULT_NAMESPACE_TYPES);
  }

  /**
   * The completing table write of a namespace shard also appends a merged epoch (docs/adr/0025) at both
   * clusters' revisions read after the catch-up: a merged RV presented from here on encodes positions
   * at or after them, above every merged RV presented before.
   */
  private async withMergedEpoch(table: RoutingTable, shard: ShardKey): Promise<RoutingTable> {
    if (namespaceOfShard(shard) === undefined) return table;
    const { source, destination } = this.deps.clusters;
    const [sourceRV, destinationRV] = await Promise.all([currentRevision(source), currentRevision(destination)]);
    return appendMergedEpoch(table, sourceRV, destinationRV, new Date());
  }

  private async change(shard: ShardKey, to: ClusterSide, reason: string): Promise<{ epoch: Epoch; heldWritesMs: number }> {
    const { routing, activity, clusters, catchUp, log } = this.deps;
    const started = Date.now();
    const from = shardState(routing.table, shard).owner;
    // Refused before any write is held: an unfenced source would let any writer fork the moved shard.
    if (to === 'destination') await this.deps.assertFenceable?.(shard);
    const starting = refusedUnlessKind(() => this.startingTable(shard), shard);
    const namespace = namespaceOfShard(shard);
    if (namespace === undefined) await this.checkShard(shard, from);
    else await this.checkNamespaceShard(shard, namespace, starting.namespaceTypes ?? [], from);
    await this.persist(beginHandoff(starting, shard, to, new Date(), this.deps.replicas?.identity));
    log.info({ shard, from, to, reason }, 'hand-off started: writes held');
    try {
      // Every replica must route by the hold (its writes drained) before the old owner's revision is read.
      await this.deps.replicas?.waitForReplicas(routing.table.generation, this.deps.replicaWaitMs ?? 0);
      // A namespace shard's writes, and writes across namespaces of its carried types sent before the hold.
      for (const key of watchKeysOf(shard, routing.table))
        if (!(await activity.writesDrained(key, WRITE_DRAIN_MS)))
          throw new BridgeError('BRIDGE_ERR_HANDOFF_TIMEOUT', `writes to ${key} still in flight after ${WRITE_DRAIN_MS} ms`);
      // Sidecars routing locally (docs/adr/0011) do not wait on the hold: one with a stale table may
      // still write this shard on the source. Fenced from here on (the held table fences a shard moving
      // to the destination), every such write either ran before the revision below is read, so the
      // catch-up covers it, or is refused, and its sidecar retries through this hold.
      if (to === 'destination') await this.deps.fence?.(routing.table, shard);
      activity.closeWatches(shard, routing.table);
      const rv = await currentRevision(clusters[from]);
      const caughtUp = Date.now();
      await catchUp.waitFor({ shard, from, rv }, this.deps.catchUpTimeoutMs);
      log.info({ shard, from, rv, catchUpMs: Date.now() - caughtUp }, 'hand-off: the other side is caught up');
      await this.persistRebased(async (table) => {
        const next = await this.withMergedEpoch(completeHandoff(table, shard, rv, new Date()), shard);
        // The fence changes while writes are still held: raised before the destination takes writes,
        // lowered before the source takes them back.
        await this.deps.fence?.(next, shard);
        return next;
      });
      // Watches opened while writes were held were served by the old owner, in the old epoch.
      activity.closeWatches(shard, routing.table);
      const heldWritesMs = Date.now() - started;
      this.deps.metrics.handoff(heldWritesMs / 1000, heldWritesMs / 1000, 'completed');
      const state = shardState(routing.table, shard);
      log.info({ shard, owner: state.owner, epoch: state.epochs.length - 1, heldWritesMs }, 'hand-off completed');
      return { epoch: state.epochs[state.epochs.length - 1]!, heldWritesMs };
    } catch (err) {
      log.warn({ shard, from, to, err: errorMessage(err) }, 'hand-off aborted; the old owner keeps serving');
      const aborted = abortHandoff(routing.table, shard);
      // The source owns the shard again: the fence raised during the hold is lowered, and enforced, before
      // its writes are released, or they would meet it (403) for a moment. Released even if it cannot be.
      await this.deps.fence?.(aborted, shard).catch((fenceErr: unknown) => log.error({ shard, err: errorMessage(fenceErr) }, 'cannot lower the fence'));
      try {
        await this.persistRebased((table) => abortHandoff(table, shard));
      } catch (abortErr) {
        log.error({ shard, err: errorMessage(abortErr) }, 'cannot release the held writes or lift the fence; retrying on the next reconcile');
      }
      this.deps.metrics.handoff((Date.now() - started) / 1000, (Date.now() - started) / 1000, 'aborted');
      throw err;
    }
  }
}
