/**
 * The one polling loop: ask `probe` until it returns something (not undefined, not false), or time
 * out naming what was awaited and the last error seen. A thrown error means "not yet" (a server still
 * starting), except a failed test assertion, which fails at once with its own message instead of
 * showing up, much later, as a timeout.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Stops early with this reason (a process that died, say). */
  abandon?: () => string | undefined;
  /** The error to throw on timeout or abandon (the default is a plain Error). */
  failure?: (message: string) => Error;
}

const isAssertionFailure = (err: unknown) => typeof err === 'object' && err !== null && 'matcherResult' in err;

export async function waitUntil<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, options: WaitOptions = {}): Promise<T> {
  const { timeoutMs = 60_000, intervalMs = 250 } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    const abandoned = options.abandon?.();
    if (abandoned) throw (options.failure ?? ((m: string) => new Error(m)))(`gave up waiting for ${what}: ${abandoned}`);
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      if (isAssertionFailure(err)) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) break;
    await sleep(intervalMs);
  }
  const last = lastError === undefined ? '' : `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`;
  throw (options.failure ?? ((m: string) => new Error(m)))(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last}`);
}
