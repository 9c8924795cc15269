/**
 * The synchronizer's recent lag (owner change seen by its watch -> replica write acknowledged), for
 * `bridgectl sync status`: the last LAG_SAMPLES writes of a mirror, summarised as p50/p99. The full
 * distribution is the Prometheus histogram cluster_bridge_synchronizer_lag_seconds (server.ts).
 */

export const LAG_SAMPLES = 1024;

export interface LagSummary {
  /** Writes in the window (at most LAG_SAMPLES). */
  count: number;
  p50Ms: number;
  p99Ms: number;
}

/** Nearest-rank percentile (p in 0..100) of sorted values; 0 for none. */
export function nearestRank(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export class LagWindow {
  private readonly samples: number[] = [];
  private next = 0;

  constructor(private readonly size = LAG_SAMPLES) {}

  add(ms: number): void {
    if (this.samples.length < this.size) this.samples.push(ms);
    else this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.size;
  }

  summary(): LagSummary {
    const sorted = [...this.samples].sort((a, b) => a - b);
    const round = (ms: number) => Math.round(ms * 10) / 10;
    return { count: sorted.length, p50Ms: round(nearestRank(sorted, 50)), p99Ms: round(nearestRank(sorted, 99)) };
  }
}
