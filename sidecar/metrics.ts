/** The sidecar's Prometheus metrics; label children are bound once so the hot path only increments. */
import { Counter, Gauge, type Registry } from 'prom-client';
import { createRegistry } from '../lib/ops-server.js';
import type { RouteReason } from './route-decision.js';

export type FailureKind = 'connect' | 'after-send';

export interface SidecarMetrics {
  registry: Registry;
  /** Requests by route reason (selected-upstream, connect-failed-fallback-local, ...). */
  routed(reason: RouteReason, upgrade: boolean): void;
  backendFailure(backend: 'upstream' | 'local', kind: FailureKind): void;
  breakerOpen: Gauge;
  certReloads: Counter;
}

export function createSidecarMetrics(sample: { activeRequests(): number; upgradedStreams(): number; backendSockets(): { upstream: number; local: number } }): SidecarMetrics {
  const registry = createRegistry('sidecar');
  const requests = new Counter({
    name: 'cluster_bridge_sidecar_requests_total',
    help: 'Requests and upgrades the sidecar routed, by route reason.',
    labelNames: ['reason', 'upgrade'],
    registers: [registry],
  });
  const failures = new Counter({
    name: 'cluster_bridge_sidecar_backend_failures_total',
    help: 'Failed backend attempts: connect (nothing sent, may fall back) or after-send (answered 502, never replayed).',
    labelNames: ['backend', 'kind'],
    registers: [registry],
  });
  const breakerOpen = new Gauge({
    name: 'cluster_bridge_sidecar_upstream_breaker_open',
    help: '1 while the circuit breaker keeps requests off the unreachable upstream.',
    registers: [registry],
  });
  const certReloads = new Counter({
    name: 'cluster_bridge_sidecar_cert_reloads_total',
    help: 'Hot reloads of the TLS files.',
    labelNames: ['result'],
    registers: [registry],
  });
  new Gauge({
    name: 'cluster_bridge_sidecar_active_requests',
    help: 'Requests in flight, watches included.',
    registers: [registry],
    collect() {
      this.set(sample.activeRequests());
    },
  });
  new Gauge({
    name: 'cluster_bridge_sidecar_upgraded_streams',
    help: 'Upgraded connections (exec, attach, port-forward) being piped.',
    registers: [registry],
    collect() {
      this.set(sample.upgradedStreams());
    },
  });
  new Gauge({
    name: 'cluster_bridge_sidecar_backend_sockets',
    help: 'Open pooled sockets per backend.',
    labelNames: ['backend'],
    registers: [registry],
    collect() {
      const counts = sample.backendSockets();
      this.set({ backend: 'upstream' }, counts.upstream);
      this.set({ backend: 'local' }, counts.local);
    },
  });
  const bound = new Map<string, { inc(): void }>();
  return {
    registry,
    routed(reason, upgrade) {
      const key = `${reason}/${upgrade}`;
      let child = bound.get(key);
      if (!child) bound.set(key, (child = requests.labels(reason, String(upgrade))));
      child.inc();
    },
    backendFailure(backend, kind) {
      failures.labels(backend, kind).inc();
    },
    breakerOpen,
    certReloads,
  };
}
