/**
 * The rollout's health gates: per-second counts of this replica's requests by backend, compared over
 * one sliding window. The destination is judged against the source's own rates in the same window, so
 * errors the source already has do not block a rollout. With several replicas each counts its own
 * share of the traffic; the leader's share is the sample the gates judge (rates, not totals). Shadow
 * reads (only the leader makes them) are judged on their own: the share of answers that diverged.
 */
import type { ClusterSide } from '../../lib/routing/types.js';
import type { BackendWindow, GateEvaluation, GateSpec, ShadowWindow } from './rollout-types.js';

/** Latency bucket upper bounds, ms; p99 is reported as the bound of the bucket that holds it. */
const LATENCY_BOUNDS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, Infinity];
const MAX_WINDOW_SECONDS = 3600;
/** The destination's p99 must also exceed the source's by this much to breach: a ratio of two tiny numbers is noise. */
export const LATENCY_FLOOR_MS = 100;
/** Fewer requests of a kind than this and their p99 is just the slowest one: too noisy to roll back on. */
export const MIN_LATENCY_SAMPLES = 50;

/**
 * Latency is compared like for like: with shards by resource type the two backends serve different
 * mixes (a LIST of hundreds of objects beside GETs), so each group is judged against the same group
 * on the other side, and only when both sides served enough of it.
 */
export const LATENCY_GROUPS = ['get', 'list', 'write'] as const;
export type LatencyGroup = (typeof LATENCY_GROUPS)[number];

export function latencyGroup(verb: string): LatencyGroup | undefined {
  if (verb === 'watch' || verb === 'proxy' || verb === '') return undefined; // long-running or not a resource call
  return verb === 'get' || verb === 'list' ? verb : 'write';
}

interface Bucket {
  second: number;
  requests: number;
  errors: number;
  latency: Record<LatencyGroup, number[]>;
}

function emptyBucket(second: number): Bucket {
  return {
    second,
    requests: 0,
    errors: 0,
    latency: { get: LATENCY_BOUNDS_MS.map(() => 0), list: LATENCY_BOUNDS_MS.map(() => 0), write: LATENCY_BOUNDS_MS.map(() => 0) },
  };
}

/** What counts against a backend: server errors, throttling, and requests that got no answer (code 0). */
export function isGateError(code: number): boolean {
  return code >= 500 || code === 429 || code === 0;
}

interface ShadowBucket {
  second: number;
  compared: number;
  divergent: number;
}

/** The bucket of the current second at the end of `list`, created when the second is new; seconds older than the longest window are dropped. */
function bucketOf<B extends { second: number }>(list: B[], second: number, create: (second: number) => B): B {
  let last = list[list.length - 1];
  if (!last || last.second !== second) {
    last = create(second);
    list.push(last);
    while (list.length > 0 && list[0]!.second <= second - MAX_WINDOW_SECONDS) list.shift();
  }
  return last;
}

export class GateWindow {
  private readonly buckets: Record<ClusterSide, Bucket[]> = { source: [], destination: [] };
  private readonly shadow: ShadowBucket[] = [];

  constructor(private readonly clock: () => number = Date.now) {}

  /** One answered request; `seconds` is the time to the response head (absent for upgrades). */
  record(backend: string, verb: string, code: number, seconds?: number): void {
    if (backend !== 'source' && backend !== 'destination') return;
    const bucket = this.current(backend);
    bucket.requests++;
    if (isGateError(code)) bucket.errors++;
    const group = latencyGroup(verb);
    if (seconds !== undefined && group) {
      const ms = seconds * 1000;
      bucket.latency[group][LATENCY_BOUNDS_MS.findIndex((bound) => ms <= bound)]!++;
    }
  }

  /** One shadow read compared (shadow-reads.ts): whether the destination's answer diverged. */
  recordShadow(divergent: boolean): void {
    const bucket = bucketOf(this.shadow, Math.floor(this.clock() / 1000), (second) => ({ second, compared: 0, divergent: 0 }));
    bucket.compared++;
    if (divergent) bucket.divergent++;
  }

  private current(backend: ClusterSide): Bucket {
    return bucketOf(this.buckets[backend], Math.floor(this.clock() / 1000), emptyBucket);
  }

  /** The last second before the window: the last `seconds` whole seconds (the current one included), from `sinceMs` on. */
  private windowStart(seconds: number, sinceMs: number): number {
    return Math.max(Math.floor(this.clock() / 1000) - seconds, Math.floor(sinceMs / 1000) - 1);
  }

  /** The backend's totals over the window. */
  summary(backend: ClusterSide, seconds: number, sinceMs = 0): BackendWindow {
    const since = this.windowStart(seconds, sinceMs);
    const total = emptyBucket(0);
    for (const bucket of this.buckets[backend]) {
      if (bucket.second <= since) continue;
      total.requests += bucket.requests;
      total.errors += bucket.errors;
      for (const group of LATENCY_GROUPS) bucket.latency[group].forEach((n, i) => (total.latency[group][i]! += n));
    }
    const all = LATENCY_BOUNDS_MS.map((_, i) => LATENCY_GROUPS.reduce((n, group) => n + total.latency[group][i]!, 0));
    const latency = Object.fromEntries(
      LATENCY_GROUPS.map((group) => [group, { count: total.latency[group].reduce((a, b) => a + b, 0), p99Ms: percentileBound(total.latency[group], 0.99) }]),
    ) as BackendWindow['latency'];
    return {
      requests: total.requests,
      errors: total.errors,
      errorRate: total.requests === 0 ? 0 : total.errors / total.requests,
      p99Ms: percentileBound(all, 0.99),
      latency,
    };
  }

  /** Shadow reads compared over the window. */
  shadowSummary(seconds: number, sinceMs = 0): ShadowWindow {
    const since = this.windowStart(seconds, sinceMs);
    const inWindow = this.shadow.filter((bucket) => bucket.second > since);
    return { compared: inWindow.reduce((n, b) => n + b.compared, 0), divergent: inWindow.reduce((n, b) => n + b.divergent, 0) };
  }

  /** Both backends over the gate window, counting only what was answered at or after `sinceMs` (the stage's start of steady state). */
  evaluate(gates: GateSpec, sinceMs = 0): GateEvaluation {
    const source = this.summary('source', gates.windowSeconds, sinceMs);
    const destination = this.summary('destination', gates.windowSeconds, sinceMs);
    const shadow = this.shadowSummary(gates.windowSeconds, sinceMs);
    return { windowSeconds: gates.windowSeconds, source, destination, shadow, ...judge(gates, source, destination, shadow) };
  }
}

function percentileBound(counts: number[], quantile: number): number {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= quantile * total) return Number.isFinite(LATENCY_BOUNDS_MS[i]!) ? LATENCY_BOUNDS_MS[i]! : LATENCY_BOUNDS_MS[i - 1]! * 2;
  }
  return 0;
}

/** The verdict on two windows (pure, for tests): a breach, too little traffic to judge, or nothing. */
export function judge(
  gates: GateSpec,
  source: BackendWindow,
  destination: BackendWindow,
  shadow: ShadowWindow = { compared: 0, divergent: 0 },
): { breach?: string; insufficient?: string } {
  const pct = (rate: number) => `${(rate * 100).toFixed(1)}%`;
  // Judged before the destination's own traffic: shadow reads are of shards it does not serve yet.
  if (shadow.compared >= gates.minShadowReads && shadow.divergent / shadow.compared > gates.maxDivergenceRate) {
    return {
      breach:
        `shadow reads diverged: ${shadow.divergent} of ${shadow.compared} (${pct(shadow.divergent / shadow.compared)}) answers of the destination ` +
        `differ from the source's, more than ${pct(gates.maxDivergenceRate)}, over ${gates.windowSeconds} s (the fields are in the aggregator's log)`,
    };
  }
  if (destination.requests < gates.minRequests) {
    return { insufficient: `the destination served ${destination.requests} requests in ${gates.windowSeconds} s, fewer than ${gates.minRequests}` };
  }
  // Without source traffic in the window there is no baseline: judge against an error-free source.
  const baseline = source.requests >= gates.minRequests ? source.errorRate : 0;
  if (destination.errorRate > baseline + gates.maxErrorRateIncrease) {
    return {
      breach:
        `destination error rate ${pct(destination.errorRate)} (${destination.errors}/${destination.requests}) exceeds the source's ` +
        `${pct(baseline)} by more than ${pct(gates.maxErrorRateIncrease)} over ${gates.windowSeconds} s`,
    };
  }
  for (const group of LATENCY_GROUPS) {
    const src = source.latency?.[group];
    const dst = destination.latency?.[group];
    const enough = Math.max(gates.minRequests, MIN_LATENCY_SAMPLES);
    if (!src || !dst || src.count < enough || dst.count < enough) continue;
    if (dst.p99Ms > src.p99Ms * gates.maxLatencyRatio && dst.p99Ms - src.p99Ms > LATENCY_FLOOR_MS) {
      return {
        breach: `destination ${group} p99 ${dst.p99Ms} ms exceeds ${gates.maxLatencyRatio}x the source's ${src.p99Ms} ms over ${gates.windowSeconds} s`,
      };
    }
  }
  return {};
}
