/**
 * Holds the circuit breaker for the upstream and runs its probe: while open, a bare TLS handshake
 * (with the client certificate) at the breaker's retry time; success closes the breaker.
 */
import { connect } from 'node:tls';
import { CLOSED_BREAKER, isProbeDue, recordConnectFailure, recordConnectSuccess, type BreakerPolicy, type BreakerState } from './circuit-breaker.js';
import type { SidecarLog } from './log.js';
import type { Backend } from './upstream-pool.js';

export class UpstreamHealth {
  private state: BreakerState = CLOSED_BREAKER;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  private stopped = false;

  constructor(
    private readonly policy: BreakerPolicy,
    private readonly backend: () => Backend,
    private readonly connectTimeoutMs: number,
    private readonly log: SidecarLog,
    private readonly onChange: (open: boolean) => void,
  ) {}

  get open(): boolean {
    return this.state.open;
  }

  connectFailed(err: unknown): void {
    const wasOpen = this.state.open;
    this.state = recordConnectFailure(this.state, Date.now(), this.policy);
    if (this.state.open && !wasOpen) {
      this.log.warn({ err: String(err), retryInMs: this.state.openMs }, 'upstream unreachable: circuit breaker open');
      this.onChange(true);
    }
    this.scheduleProbe();
  }

  connected(): void {
    if (this.state === CLOSED_BREAKER) return;
    const wasOpen = this.state.open;
    this.state = recordConnectSuccess(this.state);
    if (wasOpen) {
      this.log.info('upstream reachable again: circuit breaker closed');
      this.onChange(false);
    }
  }

  private scheduleProbe(): void {
    if (!this.state.open || this.probing || this.probeTimer || this.stopped) return;
    this.probeTimer = setTimeout(
      () => {
        this.probeTimer = undefined;
        this.probe();
      },
      Math.max(0, this.state.retryAt - Date.now()),
    );
    this.probeTimer.unref();
  }

  private probe(): void {
    if (!isProbeDue(this.state, Date.now()) || this.stopped) return this.scheduleProbe();
    this.probing = true;
    const { tls, endpoint } = this.backend();
    const socket = connect({ ...tls, host: endpoint.host, port: endpoint.port });
    const timer = setTimeout(() => socket.destroy(new Error(`probe connect timeout after ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs);
    let done = false;
    const finish = (err?: unknown) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.probing = false;
      socket.destroy();
      if (err) this.connectFailed(err);
      else this.connected();
    };
    socket.once('secureConnect', () => finish());
    socket.once('error', finish);
  }

  stop(): void {
    this.stopped = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
  }
}
