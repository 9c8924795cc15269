/**
 * The order of a full reconcile's writes, as pure functions: owners before dependents within a shard
 * (waves by depth of ownerReferences to objects of the same list), and a bounded number of writes at
 * once within a wave. Each object appears once in a list, so running a wave's writes concurrently
 * never reorders two writes of one object; watch events and retries wait for the whole reconcile
 * (shard-mirror.ts runs them one after another).
 */
import type { KubeObject } from '../lib/kube/types.js';
import { ownerReferencesOf } from '../lib/mirror/owner-references.js';

/** Writes of one shard in flight at once during a full reconcile (the API clients pool 8 sockets per cluster). */
export const RECONCILE_CONCURRENCY = 8;

/**
 * `items` in waves: wave 0 has no owner in the list, wave n an owner in wave n-1 and none later.
 * Within a wave, the list's order is kept. A cycle of references (invalid, but storable) is broken
 * where it is found.
 */
export function ownerWaves<T extends KubeObject>(items: readonly T[]): T[][] {
  const byUid = new Map(items.filter((o) => o.metadata.uid).map((o) => [o.metadata.uid!, o]));
  const depth = new Map<T, number>();
  const visiting = new Set<T>();
  const depthOf = (obj: T): number => {
    const known = depth.get(obj);
    if (known !== undefined) return known;
    if (visiting.has(obj)) return 0;
    visiting.add(obj);
    let d = 0;
    for (const ref of ownerReferencesOf(obj)) {
      const owner = byUid.get(ref.uid);
      if (owner && owner !== obj) d = Math.max(d, depthOf(owner) + 1);
    }
    visiting.delete(obj);
    depth.set(obj, d);
    return d;
  };
  const waves: T[][] = [];
  for (const obj of items) (waves[depthOf(obj)] ??= []).push(obj);
  return waves.filter((wave) => wave.length > 0);
}

/**
 * Runs `task` for every item, at most `limit` at once. After a task fails no new one starts; the call
 * waits for those in flight (nothing keeps running behind the caller's back) and throws the first error.
 */
export async function forEachLimited<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failure) {
      try {
        await task(items[next++]!);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}
