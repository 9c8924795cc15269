/**
 * Shadow reads (DESIGN.md section 3): for shards about to move (the rollout controller names them),
 * a sampled share of reads the source answers is read again from both clusters once the client has
 * its answer, and the two are compared (shadow-compare.ts). The client always gets the owner's answer
 * and never waits: the comparison starts after the response is sent, at most MAX_IN_FLIGHT at a time
 * (a sample over the cap is skipped and counted). A difference is read again after RECHECK_DELAY_MS,
 * so a write the synchronizer has not mirrored yet is not taken for a divergence; only one that
 * persists while the source stays unchanged is counted, and its field paths (never values) logged.
 */
import { callBackend } from './backend-call.js';
import { ChangeWaiters } from '../../lib/change-waiters.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/process/logger.js';
import type { ClusterConnection } from '../../lib/kube/cluster-connection.js';
import type { ClusterSide, ShardKey } from '../../lib/routing/types.js';
import type { AggregatorMetrics } from '../metrics.js';
import { answerFingerprint, compareAnswers, type ReadAnswer } from './shadow-compare.js';

const MAX_IN_FLIGHT = 4;
const RECHECK_DELAY_MS = 1000;
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const READ_TIMEOUT_MS = 10_000;

export type ShadowResult = 'equal' | 'divergent' | 'changed' | 'error' | 'skipped';

/** One sampled read, ready to be sent to each cluster: path without resourceVersion, JSON only. */
export interface ShadowRead {
  shard: ShardKey;
  /** The read's type (`configmaps`), whose cluster-own objects the comparison leaves out; a namespace shard carries several. Default: shard. */
  type?: ShardKey;
  path: string;
  headers: Record<ClusterSide, string[]>;
}

const RV_PARAMS = ['resourceVersion', 'resourceVersionMatch'];

/**
 * The path both clusters are asked: the same read at each one's latest state (a resourceVersion of
 * one cluster means nothing to the other). Undefined for the next page of a list, which has no
 * equivalent in the other cluster.
 */
export function shadowPath(path: string): string | undefined {
  const url = new URL(path, 'https://shadow.invalid');
  if (url.searchParams.has('continue')) return undefined;
  for (const name of RV_PARAMS) url.searchParams.delete(name);
  return url.pathname + url.search;
}

/** Headers with Accept set to plain JSON and no compression: the answers are parsed and compared. */
export function jsonReadHeaders(headers: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const lower = headers[i]!.toLowerCase();
    if (lower !== 'accept' && lower !== 'accept-encoding') out.push(headers[i]!, headers[i + 1]!);
  }
  return [...out, 'Accept', 'application/json'];
}

export class ShadowReads {
  private shards: ReadonlySet<ShardKey> = new Set();
  private share = 0;
  private inFlight = 0;
  private readonly changes = new ChangeWaiters();
  /** Increases with every change of the plan: sidecars learn it with the routing table (routing-table-endpoint.ts). */
  version = 0;

  constructor(
    private readonly deps: {
      clusters: Record<ClusterSide, ClusterConnection>;
      metrics: AggregatorMetrics;
      log: Logger;
      random?: () => number;
      recheckDelayMs?: number;
    },
  ) {}

  /** Set by the rollout controller each tick: which shards are about to move and the share of their reads to shadow. */
  setPlan(shards: ShardKey[], share: number): void {
    const effectiveShare = shards.length > 0 ? share : 0;
    const changed = shards.length !== this.shards.size || shards.some((s) => !this.shards.has(s)) || effectiveShare !== this.share;
    this.shards = new Set(shards);
    this.share = effectiveShare;
    if (!changed) return;
    this.deps.log.info({ shards, share: this.share }, shards.length > 0 ? 'shadowing reads of shards about to move' : 'shadow reads off');
    this.version++;
    this.changes.wake();
  }

  /** The shards whose reads are sampled now (none when the share is 0). */
  get shadowedShards(): ShardKey[] {
    return this.share > 0 ? [...this.shards].sort() : [];
  }

  /** Resolves once the plan's version differs from `version`, or after `timeoutMs`. */
  waitForChange(version: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.version !== version) return Promise.resolve();
    return this.changes.wait(timeoutMs, signal);
  }

  /** Whether this read of `shard` is sampled. Counted as skipped when the sample would exceed the in-flight cap. */
  sample(shard: ShardKey | undefined, verb: string): boolean {
    if (!shard || (verb !== 'get' && verb !== 'list') || !this.shards.has(shard)) return false;
    if ((this.deps.random ?? Math.random)() >= this.share) return false;
    if (this.inFlight < MAX_IN_FLIGHT) return true;
    this.count(shard, 'skipped');
    return false;
  }

  /** Compares one sampled read; never throws (the client was answered long ago). */
  async compare(read: ShadowRead): Promise<ShadowResult> {
    this.inFlight++;
    try {
      const result = await this.compareOnce(read);
      this.count(read.shard, result);
      return result;
    } catch (err) {
      this.deps.log.debug({ shard: read.shard, err: errorMessage(err) }, 'shadow read failed');
      this.count(read.shard, 'error');
      return 'error';
    } finally {
      this.inFlight--;
    }
  }

  private async compareOnce(read: ShadowRead): Promise<ShadowResult> {
    const first = await this.readBoth(read);
    if (first === undefined) return 'error';
    if (compareAnswers(read.type ?? read.shard, first.source, first.destination).length === 0) return 'equal';
    await new Promise((resolve) => setTimeout(resolve, this.deps.recheckDelayMs ?? RECHECK_DELAY_MS).unref());
    const second = await this.readBoth(read);
    if (second === undefined) return 'error';
    if (answerFingerprint(read.type ?? read.shard, first.source) !== answerFingerprint(read.type ?? read.shard, second.source)) return 'changed';
    const paths = compareAnswers(read.type ?? read.shard, second.source, second.destination);
    if (paths.length === 0) return 'equal';
    this.deps.log.warn({ shard: read.shard, path: read.path.split('?')[0], fields: paths }, 'shadow read diverged: the destination answers differently');
    return 'divergent';
  }

  /** Both answers, or undefined when either is not a comparable one (an error status other than 404, not JSON, too big). */
  private async readBoth(read: ShadowRead): Promise<{ source: ReadAnswer; destination: ReadAnswer } | undefined> {
    const [source, destination] = await Promise.all([this.get('source', read), this.get('destination', read)]);
    const comparable = (a: ReadAnswer | undefined) => a !== undefined && (a.status === 200 || a.status === 404);
    return comparable(source) && comparable(destination) ? { source: source!, destination: destination! } : undefined;
  }

  private async get(side: ClusterSide, read: ShadowRead): Promise<ReadAnswer | undefined> {
    const cluster = this.deps.clusters[side];
    const answer = await callBackend(cluster, {
      method: 'GET',
      path: read.path,
      headers: read.headers[side],
      agent: side === 'destination' ? cluster.asBridge : cluster.asCaller,
      timeoutMs: READ_TIMEOUT_MS,
      maxBytes: MAX_BODY_BYTES,
    });
    try {
      return { status: answer.status, body: JSON.parse(answer.body.toString('utf8')) };
    } catch {
      return undefined;
    }
  }

  private count(shard: ShardKey, result: ShadowResult): void {
    this.deps.metrics.shadowRead(shard, result);
  }
}
