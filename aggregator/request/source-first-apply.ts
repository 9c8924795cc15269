/**
 * A server-side apply of a Service while the destination owns services: whether it creates or updates,
 * only the destination's dry run, as the caller, tells. One dry run decides:
 *  - 201, it would create: source-first-create.ts (a create on the source, then the apply with the
 *    source's values on the destination);
 *  - 200, it would update: source-first-update.ts with that dry run, which compares it with the current
 *    object and, if the update allocates (ClusterIP or ExternalName to NodePort), makes it on the source
 *    first (the same apply, forced) and then applies on the destination with the source's values;
 *  - anything else: the dry run's refusal is the client's answer.
 * An apply whose body the bridge cannot parse never gets here (proxy.ts): the destination answers it.
 */
import type { ServerResponse } from 'node:http';
import { createSourceFirst, type SourceFirstCreate, type SourceFirstOutcome } from './source-first-create.js';
import { updateSourceFirst, type SourceFirstUpdateOutcome } from './source-first-update.js';

/** How it ended: as a create or as an update (each has its metric), and the HTTP code the client got. */
export type SourceFirstApplyResult =
  | { write: 'create'; outcome: Exclude<SourceFirstOutcome, 'not-a-create'>; status: number }
  | { write: 'update'; outcome: SourceFirstUpdateOutcome; status: number };

/** Runs the apply source first; an update outcome 'not-allocating' answers nothing, and the proxy sends the apply as it came. */
export async function applySourceFirst(
  call: Omit<SourceFirstCreate, 'write' | 'requested'> & { requested: NonNullable<SourceFirstCreate['requested']> },
  res: ServerResponse,
): Promise<SourceFirstApplyResult> {
  const created = await createSourceFirst({ ...call, write: 'apply' }, res);
  if (created.outcome !== 'not-a-create') return { write: 'create', ...created };
  const updated = await updateSourceFirst({ ...call, method: 'apply', dryRun: created.dryRun }, res);
  return { write: 'update', ...updated };
}
