/** What a preflight check found, and how it is printed: one line per check for people, JSON for scripts. */
import { errorMessage, isBridgeError } from '../../lib/errors.js';

export type CheckName = 'versions' | 'api-types' | 'service-ips' | 'controllers-off' | 'cluster-rbac' | 'unbridged-pods';

export interface CheckResult {
  check: CheckName;
  ok: boolean;
  /** Passed, with something to look at (the exit code stays 0): printed as `warn`. */
  warning?: boolean;
  /** When ok: what was found. Otherwise: what is wrong, with the first few failures. */
  detail: string;
  /** Set when not ok: what to do about it. */
  fix?: string;
  /** Every failing item (the line shows only the first few). */
  failures?: string[];
}

/** How many failing items a line names before "and N more" (JSON output has them all). */
export const LINE_FAILURES = 5;

export function listCapped(items: readonly string[], max = LINE_FAILURES): string {
  const shown = items.slice(0, max).join('; ');
  return items.length > max ? `${shown}; and ${items.length - max} more` : shown;
}

export function renderLine(result: CheckResult): string {
  if (result.ok && result.warning) return `warn ${result.check}: ${result.detail}${result.fix ? ` (fix: ${result.fix})` : ''}`;
  if (result.ok) return `ok   ${result.check}: ${result.detail}`;
  return `FAIL ${result.check}: ${result.detail}${result.fix ? ` (fix: ${result.fix})` : ''}`;
}

export function renderReport(results: readonly CheckResult[], output: 'text' | 'json'): string {
  if (output === 'json') return JSON.stringify({ ok: results.every((r) => r.ok), checks: results }, null, 2);
  return results.map(renderLine).join('\n');
}

/** A check that could not run fails with why (an API server's refusal, a timeout), never the whole command. */
export async function runCheck(check: CheckName, body: () => Promise<CheckResult>): Promise<CheckResult> {
  try {
    return await body();
  } catch (err) {
    const fix = isBridgeError(err) ? err.fix : 'see the message';
    return { check, ok: false, detail: `could not check: ${errorMessage(err)}`, fix };
  }
}
