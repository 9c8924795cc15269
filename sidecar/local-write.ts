/**
 * Local writes to a shard and the fence (DESIGN.md section 3): the body is buffered, bounded, so that a
 * write the source's fence refuses (it never executed) can be sent once more through the aggregator.
 * A write too large to buffer, or of unknown length, goes to the aggregator in the first place.
 */
import type { UpstreamChoice } from './upstream-selector.js';

/** A fence refusal is a short Status; a 403 body beyond this is relayed without being matched. */
export const MAX_REFUSAL_BYTES = 64 * 1024;

/** The request's Content-Length, or undefined when absent or not a plain decimal. */
export function contentLength(rawHeaders: readonly string[]): number | undefined {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.length === 14 && rawHeaders[i]!.toLowerCase() === 'content-length') {
      const value = rawHeaders[i + 1]!.trim();
      return /^\d{1,15}$/.test(value) ? Number(value) : undefined;
    }
  }
  return undefined;
}

/**
 * The choice once the body is known: a fenceable local write keeps going local only if its body can be
 * buffered whole (`length <= limit`); otherwise it goes to the aggregator, which needs no retry.
 */
export function boundLocalWrite(choice: UpstreamChoice, hasBody: boolean, length: number | undefined, limit: number): UpstreamChoice {
  if (!choice.fenceable || !hasBody) return choice;
  if (length === undefined) return { target: 'upstream', reason: 'write-body-unknown-length', shard: choice.shard };
  if (length > limit) return { target: 'upstream', reason: 'write-body-over-limit', shard: choice.shard };
  return choice;
}
