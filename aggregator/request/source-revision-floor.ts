/**
 * The highest revision this process has read from the source. Every revision the source answers with is
 * at most its current one, so a merged position at or below it is known to be real without asking
 * (merged-read.ts decodeRV: a position past the source's revision means this replica's table is behind).
 * Only a position above it costs a quorum read, which raises the floor.
 */
import { currentRevision, type ClusterConnection } from '../../lib/kube/cluster-connection.js';

const floors = new WeakMap<ClusterConnection, bigint>();

/** Records a revision the source answered with (a list's, a quorum read's). */
export function noteSourceRevision(source: ClusterConnection, revision: bigint): void {
  if (revision > (floors.get(source) ?? -1n)) floors.set(source, revision);
}

/** True when the source has reached `revision`: at once when the floor covers it, else after a quorum read. */
export async function sourceHasReached(source: ClusterConnection, revision: bigint): Promise<boolean> {
  if (revision <= (floors.get(source) ?? -1n)) return true;
  noteSourceRevision(source, BigInt(await currentRevision(source)));
  return revision <= floors.get(source)!;
}
