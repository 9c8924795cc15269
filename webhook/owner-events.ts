/**
 * Records the webhook's decision as a Kubernetes Event on the pod's controller (ReplicaSet, Job, ...),
 * where `kubectl describe` shows it. Pods do not exist yet at admission time, so the owner is the
 * only object an Event can name. Deduplicated per owner and reason so a 100-replica rollout makes one.
 */
import type { Logger } from '../lib/process/logger.js';
import type { KubeRestClient } from '../lib/kube/rest-client.js';
import { errorMessage } from '../lib/errors.js';
import type { AdmissionOutcome } from './admission-handler.js';
import { EVENT_REASONS, InjectReasons, type InjectReason } from './decision.js';
import type { WebhookMetrics } from './metrics.js';
import { WEBHOOK_REPORTING_COMPONENT } from '../lib/names.js';

const EVENT_REASON_NAMES: Partial<Record<string, string>> = {
  injected: 'BridgeInjected',
  'host-network': 'BridgeInjectionSkipped',
  'unsupported-mode': 'BridgeInjectionSkipped',
  'container-name-conflict': 'BridgeInjectionSkipped',
  error: 'BridgeInjectionFailed',
};

export function shouldRecordEvent(outcome: AdmissionOutcome): boolean {
  if (outcome.dryRun || !outcome.owner || !outcome.namespace) return false;
  return outcome.reason === 'error' || EVENT_REASONS.has(outcome.reason as InjectReason);
}

export function eventFor(outcome: AdmissionOutcome, now: Date): object {
  const owner = outcome.owner!;
  const reasonText =
    InjectReasons[outcome.reason as InjectReason] ?? `injection failed: ${outcome.message ?? 'unknown error'}; the pod was admitted without the bridge`;
  const time = now.toISOString();
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { generateName: `${owner.name}.`, namespace: outcome.namespace },
    involvedObject: { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, namespace: outcome.namespace, uid: owner.uid },
    reason: EVENT_REASON_NAMES[outcome.reason] ?? 'BridgeInjection',
    message: `cluster-bridge (${outcome.reason}${outcome.mode ? `, mode ${outcome.mode}` : ''}): ${reasonText} (pod ${outcome.name ?? '?'})`,
    type: outcome.reason === 'injected' ? 'Normal' : 'Warning',
    source: { component: 'cluster-bridge-webhook' },
    reportingComponent: WEBHOOK_REPORTING_COMPONENT,
    reportingInstance: process.env.HOSTNAME ?? 'local',
    firstTimestamp: time,
    lastTimestamp: time,
    count: 1,
  };
}

export class OwnerEventRecorder {
  private readonly recent = new Map<string, number>();

  constructor(
    private readonly client: KubeRestClient,
    private readonly log: Logger,
    private readonly metrics: WebhookMetrics,
    private readonly dedupeMs = 5 * 60_000,
  ) {}

  /** Fire and forget: an Event must never delay or fail an admission. */
  record(outcome: AdmissionOutcome): void {
    if (!shouldRecordEvent(outcome)) return;
    const key = `${outcome.owner!.uid}/${outcome.reason}`;
    const now = Date.now();
    const last = this.recent.get(key);
    if (last !== undefined && now - last < this.dedupeMs) return;
    this.recent.set(key, now);
    if (this.recent.size > 10_000) this.recent.clear();
    this.client.expect('POST', `/api/v1/namespaces/${encodeURIComponent(outcome.namespace!)}/events`, [201], eventFor(outcome, new Date(now))).then(
      () => this.metrics.events.inc({ result: 'recorded' }),
      (err: unknown) => {
        this.metrics.events.inc({ result: 'failed' });
        this.log.warn({ err: errorMessage(err), namespace: outcome.namespace, owner: outcome.owner!.name }, 'cannot record Event');
      },
    );
  }
}
