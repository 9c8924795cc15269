/** Everything the request and upgrade forwarders share, built once by the server. */
import type { ProxyIdentity } from '../lib/proxy/headers.js';
import type { RequestHead, UpstreamSelector, UpstreamChoice } from './upstream-selector.js';
import { parseRequestInfo } from '../lib/routing/request-info.js';
import { kubeStatusResponse } from '../lib/kube/status.js';
import type { FailMode } from '../lib/names.js';
import type { InFlight } from './in-flight.js';
import type { SidecarLog } from './log.js';
import type { SidecarMetrics } from './metrics.js';
import { decideAttempt, type AttemptDecision, type AttemptTarget } from './attempt-decision.js';
import { localFallback } from './local-fallback.js';
import type { TableView } from './local-route-decision.js';
import type { UpstreamHealth } from './upstream-health.js';
import type { Backend, UpstreamPool } from './upstream-pool.js';

export interface ForwardContext {
  pool: UpstreamPool;
  health: UpstreamHealth;
  selector: UpstreamSelector;
  failMode: FailMode;
  connectTimeoutMs: number;
  /** Local writes to a shard are buffered up to this size (local-write.ts). */
  localWriteMaxBytes: number;
  identity: ProxyIdentity;
  metrics: SidecarMetrics;
  inFlight: InFlight;
  log: SidecarLog;
  /** The routing table's view, however old (undefined before the first), when a table client runs: decides local fallbacks. */
  fallbackView?: () => TableView | undefined;
}

/** Decides the route for one attempt and counts it. */
export function planAttempt(
  ctx: ForwardContext,
  choice: UpstreamChoice,
  head: RequestHead,
  upgrade: boolean,
  connectFailed?: 'upstream' | 'local',
): AttemptDecision {
  const { fallbackView } = ctx;
  const decision = decideAttempt({
    choice,
    failMode: ctx.failMode,
    breakerOpen: ctx.health.open,
    hasLocalApiserver: ctx.pool.localBackend !== undefined,
    connectFailed,
    // Parsed only when the upstream is down: the hot path never pays for it.
    ...(fallbackView ? { sourceServes: () => localFallback(parseRequestInfo(head.method, head.url), fallbackView()).allowed } : {}),
  });
  ctx.metrics.routed(decision.reason, upgrade);
  return decision;
}

export function backendFor(ctx: ForwardContext, target: Exclude<AttemptTarget, 'reject'>): Backend {
  return target === 'upstream' ? ctx.pool.upstream : ctx.pool.localBackend!;
}

/** A 503 Status for a rejected route: nothing was sent anywhere, so client-go may retry it safely. */
export function unavailableResponse(reason: string) {
  return kubeStatusResponse(503, 'ServiceUnavailable', `cluster-bridge sidecar: the API upstream is unavailable (${reason})`, 1);
}

/** A 502 Status when a backend failed after the request may have reached it: not retried by the sidecar. */
export function badGatewayResponse(err: unknown) {
  return kubeStatusResponse(502, 'InternalError', `cluster-bridge sidecar: the API backend failed mid-request: ${String((err as Error)?.message ?? err)}`);
}
