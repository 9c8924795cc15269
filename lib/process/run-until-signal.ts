/** Keeping a server in the foreground until the process is told to stop. */
import { errorMessage } from '../errors.js';

export interface SignalHooks {
  onSignal(signal: string): void;
  onStopFailed(message: string): void;
}

/** Resolves once SIGTERM or SIGINT has arrived and `stop` has finished (or failed, which is reported). */
export function runUntilSignal(stop: () => Promise<void>, hooks: SignalHooks): Promise<void> {
  return new Promise<void>((resolve) => {
    const handle = (signal: string) => {
      hooks.onSignal(signal);
      stop().then(resolve, (err: unknown) => {
        hooks.onStopFailed(errorMessage(err));
        resolve();
      });
    };
    process.once('SIGTERM', () => handle('SIGTERM'));
    process.once('SIGINT', () => handle('SIGINT'));
  });
}
