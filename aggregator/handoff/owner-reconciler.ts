/**
 * Acts on the desired shard owners (ConfigMap DESIRED_OWNERS_CONFIGMAP, written by the rollout
 * controller or `bridgectl aggregator move`): the leading replica changes one shard's owner at a
 * time until the routing table matches, and releases writes a crashed leader left held.
 */
import { BridgeError, errorMessage, isBridgeError } from '../../lib/errors.js';
import { RepeatingTask } from '../../lib/process/repeating-task.js';
import { ShardRefused } from '../../lib/routing/shard-validation.js';
import type { KubeRestClient } from '../../lib/kube/rest-client.js';
import type { Logger } from '../../lib/process/logger.js';
import { DESIRED_OWNERS_CONFIGMAP, SYSTEM_NAMESPACE } from '../../lib/names.js';
import { isSourcePinned } from '../../lib/routing/resource-classes.js';
import { abortHandoff, shardState } from '../../lib/routing/routing-table.js';
import type { ClusterSide, OwnerChanger, RoutingTable, RoutingTableStore, ShardKey } from '../../lib/routing/types.js';
import type { RoutingState } from '../../lib/routing/routing-state.js';

const INTERVAL_MS = 500;
const RETRY_AFTER_FAILURE_MS = 3000;
/** A shard refused before anything was held (not served, not mirrored): asked again rarely, in case its type or mirror appears. */
const RETRY_AFTER_REFUSAL_MS = 60_000;

export const DESIRED_OWNERS_PATH = `/api/v1/namespaces/${SYSTEM_NAMESPACE}/configmaps/${DESIRED_OWNERS_CONFIGMAP}`;

/** Reads the desired owners; malformed entries are skipped with a warning, never guessed. */
export async function readDesiredOwners(destination: KubeRestClient, log: Logger): Promise<Record<ShardKey, ClusterSide>> {
  const got = await destination.request<{ data?: Record<string, string> }>('GET', DESIRED_OWNERS_PATH);
  if (got.status === 404) return {};
  if (got.status !== 200) throw new Error(`reading ${DESIRED_OWNERS_CONFIGMAP}: HTTP ${got.status}`);
  const text = got.body.data?.['owners.json'];
  if (!text) return {};
  const parsed = JSON.parse(text) as Record<string, unknown>;
  const out: Record<ShardKey, ClusterSide> = {};
  for (const [shard, side] of Object.entries(parsed)) {
    // A rollout plan naming cluster RBAC, or a hand-edited ConfigMap: never moved (docs/adr/0013), so not retried for ever either.
    if (isSourcePinned(shard)) log.warn({ shard, side }, 'desired owner of a shard the source owns in every state; ignored');
    else if (side === 'source' || side === 'destination') out[shard] = side;
    else log.warn({ shard, side }, 'desired owner is neither source nor destination; ignored');
  }
  return out;
}

/**
 * Merges `owners` into the desired owners (one write, with a resourceVersion precondition, retried on
 * conflict); unchanged owners write nothing. Returns whether anything changed.
 */
export async function writeDesiredOwners(client: KubeRestClient, owners: Record<ShardKey, ClusterSide>): Promise<boolean> {
  for (let attempt = 0; attempt < 5; attempt++) {
    let changed = false;
    const outcome = await client.createOrReplace<{ metadata?: object; data?: Record<string, string> }>(
      `/api/v1/namespaces/${SYSTEM_NAMESPACE}/configmaps`,
      DESIRED_OWNERS_CONFIGMAP,
      (current) => {
        const text = current?.data?.['owners.json'];
        const before = text ? (JSON.parse(text) as Record<ShardKey, ClusterSide>) : {};
        changed = Object.entries(owners).some(([shard, side]) => before[shard] !== side);
        if (!changed && current) return undefined;
        const data = { 'owners.json': JSON.stringify({ ...before, ...owners }) };
        return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: DESIRED_OWNERS_CONFIGMAP, namespace: SYSTEM_NAMESPACE }, data };
      },
    );
    if (outcome !== 'conflict') return changed;
  }
  throw new BridgeError('BRIDGE_ERR_KUBE_API', `${DESIRED_OWNERS_CONFIGMAP} kept changing under five attempts to update it`);
}

/** A shard that cannot be, or a source that cannot fence it (fence-support.ts): nothing was held, and retrying at once changes neither. */
function refusedBeforeHolding(err: unknown): err is BridgeError {
  return err instanceof ShardRefused || isBridgeError(err, 'BRIDGE_ERR_FENCE_UNENFORCEABLE');
}

export class OwnerReconciler {
  private retryAt = new Map<ShardKey, number>();
  private readonly task = new RepeatingTask(
    INTERVAL_MS,
    async () => {
      if (this.deps.isLeader()) await this.reconcileOnce();
    },
    (err) => this.deps.log.warn({ err: errorMessage(err) }, 'owner reconcile failed'),
  );

  constructor(
    private readonly deps: {
      destination: KubeRestClient;
      routing: RoutingState;
      store: RoutingTableStore;
      owners: (OwnerChanger & { isChanging(shard: ShardKey): boolean; maxHoldMs: number }) | undefined;
      /** Tells whether the replica that started a hold still lives (replica-presence.ts). */
      replicas?: { isLive(identity: string): Promise<boolean> };
      isLeader: () => boolean;
      /** Makes the source's fence match a table (aggregator/handoff/fencing.ts). */
      fence?: (table: RoutingTable, changing?: ShardKey) => Promise<void>;
      log: Logger;
    },
  ) {}

  start(): void {
    this.task.start();
  }

  stop(): void {
    this.task.stop();
  }

  async reconcileOnce(): Promise<void> {
    const { routing, store, log } = this.deps;
    // A hand-off left half-done by a replica that died: release its writes; the move is retried.
    // Not one this process runs, nor, unless its replica's Lease is gone, one younger than the longest
    // a live hand-off may hold writes.
    const maxHoldMs = this.deps.owners?.maxHoldMs ?? 60_000;
    for (const [shard, state] of Object.entries(routing.table.shards)) {
      if (!state.handoff || this.deps.owners?.isChanging(shard)) continue;
      const holderGone = state.handoff.by !== undefined && this.deps.replicas !== undefined && !(await this.deps.replicas.isLive(state.handoff.by));
      if (!holderGone && Date.now() - Date.parse(state.handoff.startedAt) < maxHoldMs) continue;
      log.warn({ shard }, 'releasing writes held by an interrupted hand-off');
      const table = abortHandoff(routing.table, shard);
      // The dead hand-off raised the fence for a move to the destination: lowered (and enforced) before the
      // writes are released to the source, or they meet it (the kill drill saw every write refused with the
      // fence's 403 until the next hand-off, issue 21). A fence that cannot be lowered must not keep writes held.
      await this.deps.fence?.(table, shard).catch((err: unknown) => log.error({ shard, err: errorMessage(err) }, 'cannot lower the fence of a released hold'));
      const { version } = await store.replace(table, routing.version);
      routing.update(table, version);
    }
    const desired = await readDesiredOwners(this.deps.destination, log);
    for (const [shard, to] of Object.entries(desired)) {
      if (shardState(routing.table, shard).owner === to) continue;
      if ((this.retryAt.get(shard) ?? 0) > Date.now()) continue;
      if (!this.deps.owners) {
        log.warn({ shard, to }, 'cannot change owners: no synchronizer is configured (BRIDGE_SYNCHRONIZER_URL)');
        this.retryAt.set(shard, Date.now() + 30_000);
        continue;
      }
      try {
        await this.deps.owners.changeOwner(shard, to, 'desired owner');
        this.retryAt.delete(shard);
      } catch (err) {
        const refused = refusedBeforeHolding(err);
        if (refused) log.error({ shard, to, err: err.toLine() }, 'desired owner refused before holding anything; asking again in 60 s');
        else log.warn({ shard, to, err: errorMessage(err) }, 'owner change failed; retrying');
        this.retryAt.set(shard, Date.now() + (refused ? RETRY_AFTER_REFUSAL_MS : RETRY_AFTER_FAILURE_MS));
      }
      return; // one hand-off per pass
    }
  }
}
