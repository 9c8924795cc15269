/** The aggregator's Prometheus metrics (cluster_bridge_aggregator_*), one registry per process. */
import { Counter, Histogram, type Registry } from 'prom-client';
import { createRegistry } from '../lib/process/ops-server.js';

/** Where the same answers go by second: the rollout's health gates (rollout/gate-window.ts), handed in by the server. */
export interface AnswerRecorder {
  record(backend: string, verb: string, code: number, seconds?: number): void;
  recordShadow(divergent: boolean): void;
}

export class AggregatorMetrics {
  readonly registry: Registry = createRegistry('aggregator');

  constructor(private readonly gates: AnswerRecorder) {}

  private readonly requests = new Counter({
    name: 'cluster_bridge_aggregator_requests_total',
    help: 'API requests by backend, verb, HTTP code and routing reason',
    labelNames: ['backend', 'verb', 'code', 'reason'],
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'cluster_bridge_aggregator_request_seconds',
    help: 'Time to the backend response head, by backend',
    labelNames: ['backend'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  private readonly refusals = new Counter({
    name: 'cluster_bridge_aggregator_refused_total',
    help: 'Requests refused before routing, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private readonly shadowReads = new Counter({
    name: 'cluster_bridge_aggregator_shadow_reads_total',
    help: 'Shadow reads of shards about to move, by shard and result (equal, divergent, changed, error, skipped)',
    labelNames: ['shard', 'result'],
    registers: [this.registry],
  });
  private readonly handoffs = new Histogram({
    name: 'cluster_bridge_aggregator_handoff_seconds',
    help: 'Owner changes: total time and time writes were held, by outcome',
    labelNames: ['phase', 'outcome'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  private readonly sourceFirstCreates = new Counter({
    name: 'cluster_bridge_aggregator_source_first_creates_total',
    help: 'Creates of destination-owned shards whose values the source allocates, by shard and outcome',
    labelNames: ['shard', 'outcome'],
    registers: [this.registry],
  });

  private readonly sourceFirstUpdates = new Counter({
    name: 'cluster_bridge_aggregator_source_first_updates_total',
    help: 'Updates of destination-owned shards that would allocate (a Service type or port change), made on the source first, by shard and outcome',
    labelNames: ['shard', 'outcome'],
    registers: [this.registry],
  });

  request(backend: string, verb: string, code: number, reason: string, seconds?: number): void {
    this.requests.inc({ backend, verb: verb || 'unknown', code: String(code), reason });
    if (seconds !== undefined) this.latency.observe({ backend }, seconds);
    this.gates.record(backend, verb, code, seconds);
  }

  refused(reason: string): void {
    this.refusals.inc({ reason });
  }

  shadowRead(shard: string, result: string): void {
    this.shadowReads.inc({ shard, result });
    if (result === 'equal' || result === 'divergent') this.gates.recordShadow(result === 'divergent');
  }

  sourceFirstCreate(shard: string, outcome: string): void {
    this.sourceFirstCreates.inc({ shard, outcome });
  }

  sourceFirstUpdate(shard: string, outcome: string): void {
    this.sourceFirstUpdates.inc({ shard, outcome });
  }

  handoff(totalSeconds: number, heldSeconds: number, outcome: 'completed' | 'aborted'): void {
    this.handoffs.observe({ phase: 'total', outcome }, totalSeconds);
    this.handoffs.observe({ phase: 'writes-held', outcome }, heldSeconds);
  }
}
