/**
 * Leader election on a coordination.k8s.io Lease (client-go's scheme, reduced): the holder renews
 * every renewSeconds; anyone may take over a lease not renewed for leaseDurationSeconds. Writes carry
 * the resourceVersion, so two candidates cannot both take it.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { errorMessage } from '../errors.js';
import type { KubeRestClient } from './rest-client.js';
import type { Logger } from '../process/logger.js';

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string; acquireTime?: string; leaseTransitions?: number };
}

/** MicroTime wants six fractional digits. */
export const microTime = (date: Date) => date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class LeaderLease {
  readonly identity = `${hostname()}-${randomBytes(3).toString('hex')}`;
  private leaderUntil = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: KubeRestClient,
    private readonly namespace: string,
    private readonly name: string,
    private readonly log: Logger,
    private readonly leaseDurationSeconds = 30,
    private readonly renewSeconds = 10,
  ) {}

  isLeader(): boolean {
    return Date.now() < this.leaderUntil;
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.namespace)}/leases/${encodeURIComponent(this.name)}`;
  }

  /** One attempt; returns whether this process holds the lease afterwards. */
  async tryAcquireOrRenew(now = new Date()): Promise<boolean> {
    const current = await this.client.request<Lease>('GET', this.path);
    const spec = { holderIdentity: this.identity, leaseDurationSeconds: this.leaseDurationSeconds, renewTime: microTime(now) };
    let ok = false;
    if (current.status === 404) {
      const body = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.name, namespace: this.namespace },
        spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 },
      };
      ok = (await this.client.request('POST', `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.namespace)}/leases`, body)).status === 201;
    } else if (current.status === 200) {
      const lease = current.body;
      const held = lease.spec.holderIdentity === this.identity;
      const renewed = lease.spec.renewTime ? Date.parse(lease.spec.renewTime) : 0;
      const expired = renewed + (lease.spec.leaseDurationSeconds ?? this.leaseDurationSeconds) * 1000 < now.getTime();
      if (held || expired || !lease.spec.holderIdentity) {
        const next: Lease = {
          ...lease,
          spec: {
            ...lease.spec,
            ...spec,
            ...(held ? {} : { acquireTime: microTime(now), leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1 }),
          },
        };
        ok = (await this.client.request('PUT', this.path, next)).status === 200;
      }
    }
    // Stop acting a little before others may take over.
    this.leaderUntil = ok ? now.getTime() + (this.leaseDurationSeconds - this.renewSeconds / 2) * 1000 : 0;
    return ok;
  }

  start(onChange?: (leader: boolean) => void): void {
    let was = false;
    const tick = () =>
      this.tryAcquireOrRenew()
        .catch((err: unknown) => {
          this.log.warn({ err: errorMessage(err) }, 'leader lease check failed');
          return false;
        })
        .then((leader) => {
          if (leader !== was) {
            was = leader;
            this.log.info({ identity: this.identity, leader }, leader ? 'became leader' : 'lost leadership');
            onChange?.(leader);
          }
        })
        // A throw from onChange must not become an unhandled rejection; the next tick tells again.
        .catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'acting on a leadership change failed'));
    void tick();
    this.timer = setInterval(() => void tick(), this.renewSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.leaderUntil = 0;
  }

  /**
   * Stops and, when this process holds the lease, hands it back (empty holder, with the lease's
   * resourceVersion as precondition), so a successor takes over at once instead of after the lease
   * duration, as client-go's ReleaseOnCancel does.
   */
  async release(): Promise<void> {
    const wasLeader = this.isLeader();
    this.stop();
    if (!wasLeader) return;
    const current = await this.client.request<Lease>('GET', this.path).catch(() => undefined);
    if (current?.status !== 200 || current.body.spec.holderIdentity !== this.identity) return;
    const released: Lease = { ...current.body, spec: { ...current.body.spec, holderIdentity: '', leaseDurationSeconds: 1 } };
    const put = await this.client.request('PUT', this.path, released).catch(() => undefined);
    if (put?.status !== 200) this.log.warn({ status: put?.status }, 'could not release the leader lease; a successor waits for it to expire');
  }
}
