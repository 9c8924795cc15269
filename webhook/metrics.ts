/** The webhook's Prometheus metrics, on a registry of its own (served on the plain ops port). */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { createRegistry } from '../lib/process/ops-server.js';

export interface WebhookMetrics {
  registry: Registry;
  admissions: Counter<'reason' | 'mode' | 'dry_run'>;
  duration: Histogram<'reason'>;
  badRequests: Counter<'status'>;
  events: Counter<'result'>;
  certExpiry: Gauge;
  certRotations: Counter<'kind'>;
  reconciles: Counter<'result'>;
}

export function createWebhookMetrics(registry: Registry = createRegistry('webhook')): WebhookMetrics {
  return {
    registry,
    admissions: new Counter({
      name: 'cluster_bridge_webhook_admissions_total',
      help: 'Pod admissions by decision reason (injected, opted-out, host-network, error, ...) and mode',
      labelNames: ['reason', 'mode', 'dry_run'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'cluster_bridge_webhook_admission_duration_seconds',
      help: 'Time from the request body being read to the response being handed to the socket',
      labelNames: ['reason'],
      buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1],
      registers: [registry],
    }),
    badRequests: new Counter({
      name: 'cluster_bridge_webhook_bad_requests_total',
      help: 'Requests answered 4xx (malformed AdmissionReview, wrong content type, body too large)',
      labelNames: ['status'],
      registers: [registry],
    }),
    events: new Counter({
      name: 'cluster_bridge_webhook_events_total',
      help: 'Kubernetes Events the webhook tried to record on pod owners',
      labelNames: ['result'],
      registers: [registry],
    }),
    certExpiry: new Gauge({
      name: 'cluster_bridge_webhook_serving_cert_expiry_timestamp_seconds',
      help: 'notAfter of the serving certificate in use',
      registers: [registry],
    }),
    certRotations: new Counter({
      name: 'cluster_bridge_webhook_cert_rotations_total',
      help: 'Serving certificate swaps (kind=leaf) and CA rotations (kind=ca)',
      labelNames: ['kind'],
      registers: [registry],
    }),
    reconciles: new Counter({
      name: 'cluster_bridge_webhook_namespace_reconciles_total',
      help: 'Namespace reconcile passes (CA bundle ConfigMap and sidecar TLS Secret)',
      labelNames: ['result'],
      registers: [registry],
    }),
  };
}
