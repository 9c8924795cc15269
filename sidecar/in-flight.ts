/**
 * What is running through the sidecar, for graceful shutdown and metrics: a count of requests,
 * the long-running ones (watches, log follows) with a way to end each cleanly, and upgraded streams.
 */
import type { Socket } from 'node:net';

/** Watches and follows: the API server never ends them on its own, so shutdown must. */
const LONG_RUNNING = /[?&](?:watch|follow)=(?:true|1)(?:&|$)|^\/api(?:s\/[^/]+)?\/[^/]+\/watch\//;

export function isLongRunning(url: string): boolean {
  return LONG_RUNNING.test(url);
}

export class InFlight {
  active = 0;
  draining = false;
  private readonly longRunning = new Set<() => void>();
  readonly upgraded = new Set<Socket>();
  private idleWaiters: Array<() => void> = [];

  begin(): void {
    this.active++;
  }

  end(): void {
    this.active--;
    if (this.active === 0 && this.upgraded.size === 0) this.notifyIdle();
  }

  /**
   * Registers a clean closer for a streaming response; returns the unregister function. A watch that
   * starts while shutdown is under way (on a connection that was busy when it began) is ended as soon
   * as it is set up, like those running at the start, rather than cut at the grace deadline.
   */
  addLongRunning(close: () => void): () => void {
    if (this.draining) {
      setImmediate(close);
      return () => undefined;
    }
    this.longRunning.add(close);
    return () => this.longRunning.delete(close);
  }

  addUpgraded(socket: Socket): void {
    this.upgraded.add(socket);
    socket.once('close', () => {
      this.upgraded.delete(socket);
      if (this.active === 0 && this.upgraded.size === 0) this.notifyIdle();
    });
  }

  get longRunningCount(): number {
    return this.longRunning.size;
  }

  /** Ends every watch and follow cleanly (the client sees a normal end of stream and re-watches elsewhere). */
  endLongRunning(): void {
    for (const close of [...this.longRunning]) close();
    this.longRunning.clear();
  }

  destroyUpgraded(): void {
    for (const socket of this.upgraded) socket.destroy();
  }

  /** Resolves once nothing is in flight. */
  idle(): Promise<void> {
    if (this.active === 0 && this.upgraded.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
