/**
 * A circuit breaker over the upstream's reachability, as pure state transitions. After
 * `failureThreshold` consecutive connect failures (refused, TLS, connect timeout) it opens: requests
 * skip the upstream (and its connect timeout) and take the fail-mode path. While open, a prober
 * tries a TLS handshake at `retryAt`, backing off exponentially; one success closes it.
 */

export interface BreakerPolicy {
  failureThreshold: number;
  /** First open period; doubles on each failed probe. */
  baseOpenMs: number;
  maxOpenMs: number;
}

export interface BreakerState {
  open: boolean;
  consecutiveFailures: number;
  /** Length of the current open period. */
  openMs: number;
  /** When the next probe is due (open only). */
  retryAt: number;
}

export const DEFAULT_BREAKER_POLICY: BreakerPolicy = { failureThreshold: 3, baseOpenMs: 500, maxOpenMs: 15_000 };

export const CLOSED_BREAKER: BreakerState = Object.freeze({ open: false, consecutiveFailures: 0, openMs: 0, retryAt: 0 });

/** A request or probe could not connect. */
export function recordConnectFailure(state: BreakerState, now: number, policy: BreakerPolicy): BreakerState {
  const consecutiveFailures = state.consecutiveFailures + 1;
  if (state.open) {
    // Requests that were already connecting when it opened fail before the probe is due: they say
    // nothing new, so only a failed probe (at or after retryAt) backs off.
    if (now < state.retryAt) return { ...state, consecutiveFailures };
    const openMs = Math.min(policy.maxOpenMs, Math.max(policy.baseOpenMs, state.openMs * 2));
    return { open: true, consecutiveFailures, openMs, retryAt: now + openMs };
  }
  if (consecutiveFailures >= policy.failureThreshold) {
    return { open: true, consecutiveFailures, openMs: policy.baseOpenMs, retryAt: now + policy.baseOpenMs };
  }
  return { ...state, consecutiveFailures };
}

/** A request or probe connected: the upstream is back. */
export function recordConnectSuccess(state: BreakerState): BreakerState {
  return state.open || state.consecutiveFailures > 0 ? CLOSED_BREAKER : state;
}

export function isProbeDue(state: BreakerState, now: number): boolean {
  return state.open && now >= state.retryAt;
}
