/**
 * The sidecar's Prometheus metrics, written by hand in the text exposition format (version 0.0.4).
 * prom-client with its default metrics cost several MB of private memory per pod and work on
 * every scrape; the sidecar has a dozen series families, counted with plain numbers on the hot path.
 * A few process metrics (CPU, RSS, heap, start time) replace prom-client's default set.
 */
import type { SelectReason, UpstreamTarget } from './upstream-selector.js';
import type { AttemptReason } from './attempt-decision.js';
import { slipped } from '../lib/process/guard.js';

export type FailureKind = 'connect' | 'after-send';

/** What the ops server needs to serve /metrics (prom-client's Registry has the same shape). */
export interface MetricsSource {
  contentType: string;
  metrics(): Promise<string>;
}

export interface SidecarMetrics {
  registry: MetricsSource;
  /** Requests by route reason (selected-upstream, connect-failed-fallback-local, ...). */
  routed(reason: AttemptReason, upgrade: boolean): void;
  backendFailure(backend: 'upstream' | 'local', kind: FailureKind): void;
  breakerOpen(open: boolean): void;
  certReload(result: 'ok' | 'error'): void;
  /** The selector's choice per request (local routing), by upstream and reason. */
  chosen(target: UpstreamTarget, reason: SelectReason): void;
  /** A local write the source's fence refused, sent once more through the aggregator. */
  fenceRetry(): void;
  routingTableFetch(result: 'ok' | 'error'): void;
}

export interface MetricsSample {
  activeRequests(): number;
  upgradedStreams(): number;
  backendSockets(): { upstream: number; local: number };
  /** Local routing's table: undefined when local routing is off. Age is undefined before the first table. */
  routingTable?(): { generation: number; ageSeconds: number | undefined; fresh: boolean } | undefined;
}

function routingTableFamilies(sample: MetricsSample): string {
  const table = sample.routingTable?.();
  if (!table) return '';
  return (
    family('routing_table_generation', 'gauge', 'Generation of the routing table local routing decides by.', [[undefined, table.generation]]) +
    family('routing_table_age_seconds', 'gauge', 'Seconds since the routing table was last confirmed by the aggregator (-1: never).', [
      [undefined, table.ageSeconds ?? -1],
    ]) +
    family('routing_table_fresh', 'gauge', '1 while the table is younger than the bound and requests may go local.', [[undefined, table.fresh ? 1 : 0]])
  );
}

const PREFIX = 'cluster_bridge_sidecar_';

/** Label values here are fixed words (reasons, backend names), but escape anyway as the format requires. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function family(name: string, type: 'counter' | 'gauge', help: string, samples: Array<[labels: Record<string, string> | undefined, value: number]>): string {
  let text = `# HELP ${PREFIX}${name} ${help}\n# TYPE ${PREFIX}${name} ${type}\n`;
  for (const [labels, value] of samples) {
    const pairs = labels ? Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`) : [];
    text += `${PREFIX}${name}${pairs.length ? `{${pairs.join(',')}}` : ''} ${value}\n`;
  }
  return text;
}

/** A counter with labels: one number per label combination, keyed by the joined values. */
class LabelledCounter {
  readonly values = new Map<string, number>();
  constructor(private readonly labelNames: readonly string[]) {}

  inc(...labelValues: string[]): void {
    const key = labelValues.join('\u0000');
    this.values.set(key, (this.values.get(key) ?? 0) + 1);
  }

  samples(): Array<[Record<string, string>, number]> {
    return [...this.values].map(([key, value]) => {
      const parts = key.split('\u0000');
      return [Object.fromEntries(this.labelNames.map((name, i) => [name, parts[i]!])), value];
    });
  }
}

function processFamilies(): string {
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  return (
    family('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.', [[undefined, (cpu.user + cpu.system) / 1e6]]) +
    family('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', [[undefined, memory.rss]]) +
    family('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.', [
      [undefined, Math.round(Date.now() / 1000 - process.uptime())],
    ]) +
    family('nodejs_heap_size_used_bytes', 'gauge', 'Process heap size used from Node.js in bytes.', [[undefined, memory.heapUsed]]) +
    family('nodejs_heap_size_total_bytes', 'gauge', 'Process heap size from Node.js in bytes.', [[undefined, memory.heapTotal]])
  );
}

export function createSidecarMetrics(sample: MetricsSample): SidecarMetrics {
  const requests = new LabelledCounter(['reason', 'upgrade']);
  const failures = new LabelledCounter(['backend', 'kind']);
  const certReloads = new LabelledCounter(['result']);
  const choices = new LabelledCounter(['upstream', 'reason']);
  let fenceRetries = 0;
  const tableFetches = new LabelledCounter(['result']);
  let breakerOpen = 0;

  const text = (): string => {
    const sockets = sample.backendSockets();
    return (
      family('requests_total', 'counter', 'Requests and upgrades the sidecar routed, by route reason.', requests.samples()) +
      family(
        'backend_failures_total',
        'counter',
        'Failed backend attempts: connect (nothing sent, may fall back) or after-send (answered 502, never replayed).',
        failures.samples(),
      ) +
      family('upstream_breaker_open', 'gauge', '1 while the circuit breaker keeps requests off the unreachable upstream.', [[undefined, breakerOpen]]) +
      family('cert_reloads_total', 'counter', 'Hot reloads of the TLS files.', certReloads.samples()) +
      family('active_requests', 'gauge', 'Requests in flight, watches included.', [[undefined, sample.activeRequests()]]) +
      family('upgraded_streams', 'gauge', 'Upgraded connections (exec, attach, port-forward) being piped.', [[undefined, sample.upgradedStreams()]]) +
      family('backend_sockets', 'gauge', 'Open pooled sockets per backend.', [
        [{ backend: 'upstream' }, sockets.upstream],
        [{ backend: 'local' }, sockets.local],
      ]) +
      family('upstream_choices_total', 'counter', 'Requests by the upstream local routing chose (upstream or local) and why.', choices.samples()) +
      family('fence_retries_total', 'counter', "Local writes refused by the source's fence and sent once through the aggregator.", [
        [undefined, fenceRetries],
      ]) +
      family('routing_table_fetches_total', 'counter', 'Routing table fetches from the aggregator, by result.', tableFetches.samples()) +
      routingTableFamilies(sample) +
      family('unhandled_rejections_total', 'counter', 'Promise rejections nobody handled, logged and counted instead of exiting (lib/process/guard.ts).', [
        [undefined, slipped.unhandledRejections],
      ]) +
      processFamilies()
    );
  };

  return {
    registry: { contentType: 'text/plain; version=0.0.4; charset=utf-8', metrics: async () => text() },
    routed(reason, upgrade) {
      requests.inc(reason, upgrade ? 'true' : 'false');
    },
    backendFailure(backend, kind) {
      failures.inc(backend, kind);
    },
    breakerOpen(open) {
      breakerOpen = open ? 1 : 0;
    },
    certReload(result) {
      certReloads.inc(result);
    },
    chosen(target, reason) {
      choices.inc(target, reason);
    },
    fenceRetry() {
      fenceRetries++;
    },
    routingTableFetch(result) {
      tableFetches.inc(result);
    },
  };
}
