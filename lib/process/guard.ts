/**
 * The last line of defence of a component process (issue 21, docs/adr/0017): a promise rejection
 * nobody handled is logged and counted, and the process goes on, instead of Node's default exit.
 * Every call to an API server has a deadline and its caller's retry, so such a rejection is one
 * call's failure that a caller forgot to look at; the loops that own the work (mirrors, hand-offs,
 * long polls) carry on and converge, which an exit would only delay. Counted per process in
 * `cluster_bridge_<component>_unhandled_rejections_total` (each rejection is a bug to fix).
 *
 * An uncaught exception is different: it unwound a stack half way through some synchronous change,
 * and Node documents the process state as undefined after it. It is logged, counted and the process
 * exits (code 70, EX_SOFTWARE) for its supervisor to restart: every component is restart-safe (state
 * in the clusters and the routing table, DESIGN.md section 5), while going on with state half
 * changed could copy a wrong object or route by a half-updated table.
 */
import { errorMessage } from '../errors.js';

/** What slipped through in this process, read by the metrics of whichever component runs here. */
export const slipped = { unhandledRejections: 0, uncaughtExceptions: 0 };

/** The exit code after an uncaught exception: EX_SOFTWARE, an internal error. */
export const UNCAUGHT_EXIT_CODE = 70;

interface GuardLog {
  error(fields: object, message: string): void;
}

/** The stack of anything thrown, or its message. */
function describe(reason: unknown): { err: string; stack?: string } {
  const stack = reason instanceof Error ? reason.stack : undefined;
  return { err: errorMessage(reason), ...(stack ? { stack } : {}) };
}

/**
 * Installs the handlers once per process; returns a function that removes them (tests). `exit` is
 * process.exit unless a test passes its own.
 */
export function guardProcess(log: GuardLog, exit: (code: number) => void = (code) => process.exit(code)): () => void {
  const onRejection = (reason: unknown) => {
    slipped.unhandledRejections++;
    log.error(
      { ...describe(reason), unhandledRejections: slipped.unhandledRejections },
      'unhandled promise rejection (a bug): logged and counted, not exiting',
    );
  };
  const onException = (err: unknown) => {
    slipped.uncaughtExceptions++;
    log.error(describe(err), `uncaught exception: the process state is undefined after it; exiting with code ${UNCAUGHT_EXIT_CODE} to be restarted`);
    exit(UNCAUGHT_EXIT_CODE);
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  };
}
