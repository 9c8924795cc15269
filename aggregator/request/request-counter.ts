/**
 * Counts one proxied request exactly once, for the metrics and the rollout's gates: its answer, or,
 * when the backend sends no response head within `noAnswerMs`, an unanswered request (code 0, which
 * the gates count as an error like a 5xx). A backend that hangs would otherwise never count against
 * itself. Watches are long-running by design and never time out here.
 */
import type { AggregatorMetrics } from '../metrics.js';

export const NO_ANSWER_MS = 10_000;

export interface RequestCounter {
  /** Counts the answer (or failure); ignored after the first count. */
  count(code: number, reason: string, seconds?: number): void;
  /** The client left before an answer: nothing is counted. */
  cancel(): void;
}

export function countRequest(metrics: Pick<AggregatorMetrics, 'request'>, backend: string, verb: string, noAnswerMs = NO_ANSWER_MS): RequestCounter {
  let counted = false;
  const count = (code: number, reason: string, seconds?: number) => {
    if (counted) return;
    counted = true;
    clearTimeout(timer);
    metrics.request(backend, verb, code, reason, seconds);
  };
  const timer = verb === 'watch' ? undefined : setTimeout(() => count(0, 'no-answer'), noAnswerMs);
  timer?.unref();
  return { count, cancel: () => clearTimeout(timer) };
}
