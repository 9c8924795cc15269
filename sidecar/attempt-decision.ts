/**
 * Where one request goes, as a pure function with a reason code (for logs and metric labels):
 * the selector's choice, overridden by the circuit breaker and the fail mode when the upstream is
 * down. A request is only re-sent elsewhere when it never reached the upstream (`connect-failed`),
 * so no write executes twice. Called an attempt (upstream, local or reject), not a route: a route is
 * lib/routing's `route()` (source, destination or hold), which the selector's choice already used.
 */
import type { UpstreamChoice } from './upstream-selector.js';
import type { FailMode } from '../lib/names.js';

export type AttemptTarget = 'upstream' | 'local' | 'reject';

export type AttemptReason =
  | 'selected-upstream'
  | 'selected-local'
  | 'breaker-open-fallback-local'
  | 'breaker-open-fail-closed'
  | 'connect-failed-fallback-local'
  | 'connect-failed-fail-closed'
  | 'no-local-apiserver'
  | 'local-unreachable'
  | 'local-connect-failed-fallback-upstream'
  /** The upstream is unreachable and the source does not serve this request as the aggregator would (local-fallback.ts): 503. */
  | 'moved-shard-unavailable';

export interface AttemptInput {
  choice: UpstreamChoice;
  failMode: FailMode;
  breakerOpen: boolean;
  hasLocalApiserver: boolean;
  /** Set when an attempt already failed before sending anything: which target failed. */
  connectFailed?: 'upstream' | 'local';
  /**
   * Whether the local source API server may answer this request in the upstream's place
   * (local-fallback.ts); asked only when the upstream is down. Without a routing table client: true.
   */
  sourceServes?: () => boolean;
}

export interface AttemptDecision {
  target: AttemptTarget;
  reason: AttemptReason;
}

function fallback(input: AttemptInput, local: AttemptReason, closed: AttemptReason): AttemptDecision {
  if (input.failMode === 'closed') return { target: 'reject', reason: closed };
  if (!input.hasLocalApiserver) return { target: 'reject', reason: 'no-local-apiserver' };
  if (input.sourceServes && !input.sourceServes()) return { target: 'reject', reason: 'moved-shard-unavailable' };
  return { target: 'local', reason: local };
}

/**
 * A local choice (local routing) whose local API server cannot be reached goes to the upstream, which
 * routes it there itself, unless the breaker already keeps requests off the upstream; if the upstream
 * then fails too, the request is refused (503, nothing sent anywhere).
 */
function decideLocal(input: AttemptInput): AttemptDecision {
  if (!input.hasLocalApiserver) return { target: 'reject', reason: 'no-local-apiserver' };
  if (input.connectFailed === 'local' && !input.breakerOpen) return { target: 'upstream', reason: 'local-connect-failed-fallback-upstream' };
  if (input.connectFailed) return { target: 'reject', reason: 'local-unreachable' };
  return { target: 'local', reason: 'selected-local' };
}

export function decideAttempt(input: AttemptInput): AttemptDecision {
  if (input.choice.target === 'local') return decideLocal(input);
  if (input.connectFailed === 'local') return { target: 'reject', reason: 'local-unreachable' };
  if (input.connectFailed === 'upstream') return fallback(input, 'connect-failed-fallback-local', 'connect-failed-fail-closed');
  if (input.breakerOpen) return fallback(input, 'breaker-open-fallback-local', 'breaker-open-fail-closed');
  return { target: 'upstream', reason: 'selected-upstream' };
}
