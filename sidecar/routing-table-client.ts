/**
 * Keeps the sidecar's copy of the aggregator's routing table current (local routing, docs/adr/0011).
 *
 * Long poll rather than a short poll or a watch stream: the aggregator answers the moment its table
 * changes, so a hand-off is learnt within one round trip (a short poll learns it a period late, and a
 * shorter period multiplies requests by the number of pods), and every answer is a fresh request, so
 * the sidecar can date what it knows conservatively: a table is confirmed *as of the moment the request
 * was sent* (the aggregator answered with its table of some later moment). A stream's heartbeats
 * could be delayed in flight without the sidecar noticing. The table is trusted only while that date is
 * younger than `maxAgeMs`; beyond it, or before the first answer, local routing pauses and everything
 * goes to the aggregator.
 */
import { request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { BridgeError, errorMessage } from '../lib/errors.js';
import { routingTableRequestPath, type ServedRoutingTable } from '../lib/routing/routing-table-protocol.js';
import { RoutingState } from '../lib/routing/routing-state.js';
import { validateRoutingTable } from '../lib/routing/routing-table.js';
import type { TableView } from './local-route-decision.js';
import type { SidecarLog } from './log.js';
import type { UpstreamPool } from './upstream-pool.js';

/** One GET of a routing-table path from the aggregator; rejects when nothing came back. */
export type TableFetch = (path: string, timeoutMs: number) => Promise<{ status: number; body: string }>;

export interface RoutingTableClientOptions {
  fetch: TableFetch;
  /** The bound: a table confirmed longer ago than this is not routed by. */
  maxAgeMs: number;
  /** How long the aggregator may hold a long poll open; well below maxAgeMs so a quiet table stays fresh. */
  waitSeconds: number;
  log: SidecarLog;
  /** Monotonic milliseconds (tests pass a fake clock). */
  now?: () => number;
  /** Called after the table changed or went stale or fresh again. */
  onChange?: () => void;
  /** Called after every fetch. */
  onFetch?: (result: 'ok' | 'error') => void;
}

/** Answers beyond the long poll's wait before the fetch is abandoned. */
const FETCH_SLACK_MS = 5_000;
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 5_000;

export class RoutingTableClient {
  readonly routing = new RoutingState();
  /** The aggregator's shadow-read plan: reads of these shards go to it (local-route-decision.ts). */
  private shadow: { version: number; shards: ReadonlySet<string> } = { version: 0, shards: new Set() };
  private confirmedAt: number | undefined;
  private wasFresh = false;
  private stopped = false;
  private readonly stopping = new AbortController();
  private failures = 0;
  private refreshing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(private readonly options: RoutingTableClientOptions) {
    this.now = options.now ?? (() => performance.now());
    // Freshness ends by the clock alone: checked often enough that local watches close within a
    // quarter of the bound after it (the selector itself checks the age on every request).
    this.timer = setInterval(() => this.checkFreshness(), Math.max(50, Math.min(1000, options.maxAgeMs / 4)));
    this.timer.unref();
  }

  /** Milliseconds since the table was last confirmed; undefined before the first table. */
  ageMs(): number | undefined {
    return this.confirmedAt === undefined ? undefined : this.now() - this.confirmedAt;
  }

  get fresh(): boolean {
    const age = this.ageMs();
    return age !== undefined && age <= this.options.maxAgeMs;
  }

  /** What the selector decides by; undefined until a table arrived. */
  view(): TableView | undefined {
    return this.confirmedAt === undefined ? undefined : { routing: this.routing, fresh: this.fresh, shadowed: this.shadow.shards };
  }

  /** Runs the long poll until stop(). */
  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.stopping.abort();
    clearInterval(this.timer);
  }

  /** One immediate fetch (after a fenced write); concurrent callers share it; never rejects. */
  refresh(): Promise<void> {
    this.refreshing ??= this.fetchOnce(false)
      .then(() => undefined)
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const ok = await this.fetchOnce(this.confirmedAt !== undefined);
      if (ok || this.stopped) continue;
      const backoffMs = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(this.failures - 1, 10));
      await sleep(backoffMs, undefined, { signal: this.stopping.signal, ref: false }).catch(() => undefined);
    }
  }

  /** Fetches once (a long poll when `wait`) and takes the answer; false when it failed. */
  private async fetchOnce(wait: boolean): Promise<boolean> {
    const sentAt = this.now();
    const waitSeconds = wait ? this.options.waitSeconds : 0;
    const held = this.confirmedAt === undefined ? undefined : { generation: this.routing.table.generation, shadowVersion: this.shadow.version };
    const path = routingTableRequestPath(held, waitSeconds);
    try {
      const answer = await this.options.fetch(path, waitSeconds * 1000 + FETCH_SLACK_MS);
      if (answer.status !== 200) {
        throw new BridgeError('BRIDGE_ERR_ROUTING_TABLE', `the aggregator answered HTTP ${answer.status} for the routing table: ${answer.body.slice(0, 200)}`);
      }
      const { shadowReads, ...table } = JSON.parse(answer.body) as ServedRoutingTable;
      this.accept(validateRoutingTable(table), shadowReads, sentAt);
      this.options.onFetch?.('ok');
      return true;
    } catch (err) {
      this.failed(err);
      return false;
    }
  }

  private accept(table: ReturnType<typeof validateRoutingTable>, shadowReads: ServedRoutingTable['shadowReads'], sentAt: number): void {
    const before = this.routing.table.generation;
    const first = this.confirmedAt === undefined;
    if (this.routing.update(table, String(table.generation)) && shadowReads && shadowReads.version !== this.shadow.version) {
      this.shadow = { version: shadowReads.version, shards: new Set(shadowReads.shards) };
    }
    this.confirmedAt = Math.max(this.confirmedAt ?? -Infinity, sentAt);
    if (this.failures > 0) this.options.log.info({ generation: this.routing.table.generation }, 'routing table fetched again: local routing resumes');
    this.failures = 0;
    if (first) this.options.log.info({ generation: this.routing.table.generation }, 'routing table fetched: local routing on');
    const flipped = this.checkFreshness() === 'changed';
    if (!flipped && (first || this.routing.table.generation !== before)) this.options.onChange?.();
  }

  private failed(err: unknown): void {
    this.failures++;
    this.options.onFetch?.('error');
    // Once per streak: a down aggregator must not flood the pod's log.
    if (this.failures === 1 && !this.stopped) {
      const line = err instanceof BridgeError ? err.toLine() : `BRIDGE_ERR_ROUTING_TABLE: ${errorMessage(err)}`;
      this.options.log.warn({ err: line }, 'cannot fetch the routing table; requests go to the aggregator once it is older than the bound');
    }
  }

  /** Notices the table going stale (or fresh again); 'changed' when it did (and onChange was called). */
  private checkFreshness(): 'changed' | 'unchanged' {
    const fresh = this.fresh;
    if (fresh === this.wasFresh) return 'unchanged';
    this.wasFresh = fresh;
    if (!fresh) this.options.log.warn({ ageMs: Math.round(this.ageMs() ?? 0) }, 'the routing table is older than the bound: everything goes to the aggregator');
    this.options.onChange?.();
    return 'changed';
  }
}

/** Fetches through the upstream pool's mTLS agent (the sidecar's client certificate). */
export function upstreamTableFetch(pool: UpstreamPool): TableFetch {
  return (path, timeoutMs) =>
    new Promise((resolve, reject) => {
      const backend = pool.upstream;
      const req = request({ agent: backend.agent, host: backend.endpoint.host, port: backend.endpoint.port, method: 'GET', path, timeout: timeoutMs });
      req.on('timeout', () => req.destroy(new BridgeError('BRIDGE_ERR_ROUTING_TABLE', `no routing table from the aggregator within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.end();
    });
}
