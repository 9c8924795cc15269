/**
 * Hand-offs with several aggregator replicas (DESIGN.md section 3; ADR 0007). Each replica keeps a
 * Lease of its own in the system namespace, renewed every renewSeconds, that names the routing-table
 * generation it routes by; it reports a new generation only once its writes to the shards that table
 * holds have finished and their watches are closed. After persisting a hold, the hand-off leader waits
 * until every live replica reports it, so no replica sends a write to the old owner after the old
 * owner's revision is read (such a write would be missed by the catch-up and lost).
 *
 * A replica that cannot renew its Lease holds every shard write itself (self-fencing, `isFresh`), and
 * the leader counts a replica as gone only REPLICA_GRACE_MS after its Lease expired, by then fenced.
 * A live replica that stays behind makes the hand-off fail (the old owner keeps serving).
 */
import { errorMessage } from '../../lib/errors.js';
import type { KubeRestClient } from '../../lib/kube/rest-client.js';
import { microTime } from '../../lib/kube/leader-lease.js';
import type { Logger } from '../../lib/process/logger.js';
import { REPLICA_LABEL, ROUTING_GENERATION_ANNOTATION } from '../../lib/names.js';
import { shardState } from '../../lib/routing/routing-table.js';
import type { RoutingTable, ShardKey } from '../../lib/routing/types.js';
import { WRITE_DRAIN_MS } from './handoff.js';
import type { ShardActivity } from './shard-activity.js';

/** Clock skew and scheduling between replicas: a replica is gone only this long after its Lease expired. */
export const REPLICA_GRACE_MS = 2000;

export interface ReplicaLease {
  metadata: { name: string; annotations?: Record<string, string>; resourceVersion?: string };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string };
}

/** The replicas (other than `self`) still alive and routing by a table older than `generation`. Pure. */
export function replicasBehind(leases: ReplicaLease[], self: string, generation: number, now: number): string[] {
  return leases
    .filter((lease) => lease.spec.holderIdentity && lease.spec.holderIdentity !== self)
    .filter((lease) => {
      const renewed = lease.spec.renewTime ? Date.parse(lease.spec.renewTime) : 0;
      return renewed + (lease.spec.leaseDurationSeconds ?? 0) * 1000 + REPLICA_GRACE_MS > now;
    })
    .filter((lease) => Number(lease.metadata.annotations?.[ROUTING_GENERATION_ANNOTATION] ?? -1) < generation)
    .map((lease) => lease.spec.holderIdentity!);
}

export class ReplicaPresence {
  private generation = -1;
  private renewedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly deps: {
      client: KubeRestClient;
      namespace: string;
      identity: string;
      leaseDurationSeconds: number;
      renewSeconds: number;
      log: Logger;
    },
  ) {}

  get identity(): string {
    return this.deps.identity;
  }

  private get collection(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.deps.namespace)}/leases`;
  }

  /** The Lease's name: one per replica, derived from its identity. */
  private get name(): string {
    return `cluster-bridge-aggregator-replica-${this.deps.identity.toLowerCase().replace(/[^a-z0-9-]/g, '-')}`.slice(0, 253);
  }

  start(generation: number): Promise<void> {
    this.generation = generation;
    const loop = () => {
      this.timer = setTimeout(() => void this.renew().finally(() => this.stopped || loop()), this.deps.renewSeconds * 1000).unref();
    };
    return this.renew().finally(loop);
  }

  /** Reports that this replica now routes by `generation`, its held writes drained. */
  observe(generation: number): Promise<void> {
    if (generation <= this.generation) return Promise.resolve();
    this.generation = generation;
    return this.renew();
  }

  /** False once the Lease has gone unrenewed for its duration: the leader may have stopped waiting for this replica. */
  isFresh(now = Date.now()): boolean {
    return now - this.renewedAt <= this.deps.leaseDurationSeconds * 1000;
  }

  /** One write at a time, each with the newest generation; the renewal time counts from before the request. */
  private renew(): Promise<void> {
    this.writing = this.writing.then(async () => {
      const started = Date.now();
      try {
        const outcome = await this.deps.client.createOrReplace(this.collection, this.name, () => ({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: {
            name: this.name,
            namespace: this.deps.namespace,
            labels: { [REPLICA_LABEL]: 'true' },
            annotations: { [ROUTING_GENERATION_ANNOTATION]: String(this.generation) },
          },
          spec: { holderIdentity: this.deps.identity, leaseDurationSeconds: this.deps.leaseDurationSeconds, renewTime: microTime(new Date(started)) },
        }));
        if (outcome !== 'conflict') this.renewedAt = started;
      } catch (err) {
        this.deps.log.warn({ err: errorMessage(err) }, 'cannot renew this replica’s Lease; shard writes are held once it expires');
      }
    });
    return this.writing;
  }

  /** Leaves: the Lease is deleted so no hand-off waits for this replica. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.writing;
    await this.deps.client.request('DELETE', `${this.collection}/${encodeURIComponent(this.name)}`).catch(() => undefined);
  }

  private async leases(): Promise<ReplicaLease[]> {
    const selector = encodeURIComponent(`${REPLICA_LABEL}=true`);
    return (await this.deps.client.expect<{ items: ReplicaLease[] }>('GET', `${this.collection}?labelSelector=${selector}`, [200])).body.items;
  }

  /** Whether `identity` is a live replica (or this one); false once its Lease expired past the grace period. */
  async isLive(identity: string): Promise<boolean> {
    return identity === this.deps.identity || replicasBehind(await this.leases(), this.deps.identity, Number.MAX_SAFE_INTEGER, Date.now()).includes(identity);
  }

  /** The leader's wait: every other live replica routes by `generation` (or is gone), within `timeoutMs`. */
  async waitForReplicas(generation: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const behind = replicasBehind(await this.leases(), this.deps.identity, generation, Date.now());
      if (behind.length === 0) return;
      if (Date.now() > deadline)
        throw new Error(`aggregator replicas ${behind.join(', ')} did not take routing-table generation ${generation} in ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** The shards whose owner, epoch or hold changed between two tables: their watches must be closed. */
export function shardsChanged(before: RoutingTable, after: RoutingTable): ShardKey[] {
  const keys = new Set([...Object.keys(before.shards), ...Object.keys(after.shards)]);
  return [...keys].filter((shard) => {
    const a = shardState(before, shard);
    const b = shardState(after, shard);
    return a.owner !== b.owner || a.epochs.length !== b.epochs.length || Boolean(a.handoff) !== Boolean(b.handoff);
  });
}

/**
 * What a replica does with a table another replica wrote: close the watches of shards that changed
 * (they were served by the old owner, in the old epoch), let writes already sent to held shards
 * finish, then report the generation, which releases the hand-off leader's wait.
 */
export async function settleOnTable(before: RoutingTable, after: RoutingTable, activity: ShardActivity, presence: ReplicaPresence): Promise<void> {
  for (const shard of shardsChanged(before, after)) activity.closeWatches(shard, after);
  const held = Object.entries(after.shards).flatMap(([shard, state]) => (state.handoff ? [shard] : []));
  await Promise.all(held.map((shard) => activity.writesDrained(shard, WRITE_DRAIN_MS)));
  await presence.observe(after.generation);
}
