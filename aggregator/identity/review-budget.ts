/**
 * How many TokenReviews unknown tokens may cost: a token bucket per peer (its address) and one for
 * everyone. A review is needed only for a token the cache does not know, so callers with real tokens
 * pay once per TTL while a flood of random tokens runs out of budget (429) before it reaches the
 * source; the global bucket keeps many peers together from starving the source's reviews too.
 */
export interface BudgetPolicy {
  perPeerPerSecond: number;
  perPeerBurst: number;
  globalPerSecond: number;
  globalBurst: number;
  /** Peers remembered at once; the least recently seen is forgotten first. */
  maxPeers: number;
}

export const DEFAULT_BUDGET: BudgetPolicy = budgetPolicy(20);

/** A peer may burst twice its rate; all peers together ten times one peer's. */
export function budgetPolicy(perPeerPerSecond: number): BudgetPolicy {
  return { perPeerPerSecond, perPeerBurst: 2 * perPeerPerSecond, globalPerSecond: 10 * perPeerPerSecond, globalBurst: 20 * perPeerPerSecond, maxPeers: 10_000 };
}

class Bucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  available(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
    return this.tokens >= 1;
  }

  take(): void {
    this.tokens -= 1;
  }
}

export class ReviewBudget {
  private readonly peers = new Map<string, Bucket>();
  private readonly global: Bucket;

  constructor(
    private readonly policy: BudgetPolicy = DEFAULT_BUDGET,
    private readonly now: () => number = Date.now,
  ) {
    this.global = new Bucket(policy.globalPerSecond, policy.globalBurst, now());
  }

  /** True (and one review spent) when `peer` may cost the source one more review now. */
  spend(peer: string): boolean {
    const now = this.now();
    let bucket = this.peers.get(peer);
    if (bucket) this.peers.delete(peer);
    else {
      bucket = new Bucket(this.policy.perPeerPerSecond, this.policy.perPeerBurst, now);
      if (this.peers.size >= this.policy.maxPeers) this.peers.delete(this.peers.keys().next().value!);
    }
    this.peers.set(peer, bucket);
    if (!bucket.available(now) || !this.global.available(now)) return false;
    bucket.take();
    this.global.take();
    return true;
  }
}
