/**
 * The clocks of the bridge's API-facing servers (aggregator, sidecar). A request must arrive whole
 * (headers and body) within `requestTimeoutMs` and its headers within `headersTimeoutMs`, so a client
 * that dribbles bytes cannot hold a socket and its buffers for ever. These clocks stop once the
 * request is read: a watch, a log follow or an exec stream then runs as long as it likes, which is
 * why nothing times out the response or an idle socket mid-request (kube-apiserver bounds its own
 * non-long-running requests at 60 s and answers 504 itself).
 */
import type { Server } from 'node:http';

export interface ServerTimeouts {
  /** Headers and body (kube-apiserver's largest body is 3 MiB; minutes leave room for slow links). */
  requestTimeoutMs: number;
  /** Headers (kube-apiserver allows 32 s; a keep-alive socket's next request counts from its first byte). */
  headersTimeoutMs: number;
  /** How often Node checks the two clocks (connectionsCheckingInterval); a bound is enforced within this much. */
  checkIntervalMs: number;
}

export const DEFAULT_SERVER_TIMEOUTS: ServerTimeouts = { requestTimeoutMs: 300_000, headersTimeoutMs: 60_000, checkIntervalMs: 30_000 };

/** Options for http(s).createServer: the check interval can only be set there. */
export function serverTimeoutOptions(timeouts: ServerTimeouts): { requestTimeout: number; headersTimeout: number; connectionsCheckingInterval: number } {
  return { requestTimeout: timeouts.requestTimeoutMs, headersTimeout: timeouts.headersTimeoutMs, connectionsCheckingInterval: timeouts.checkIntervalMs };
}

/** Re-applies the clocks after creation (setters win over constructor options). */
export function applyServerTimeouts(server: Server, timeouts: ServerTimeouts): void {
  server.requestTimeout = timeouts.requestTimeoutMs;
  server.headersTimeout = timeouts.headersTimeoutMs;
  // An idle socket between requests is the keep-alive timeout's business; within a request, no idle clock.
  server.timeout = 0;
}
