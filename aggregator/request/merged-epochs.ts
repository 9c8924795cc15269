/**
 * The merged resourceVersion codec a merged read presents with (lib/routing/merged-rv.ts, ADR 0025),
 * and the one write merged reads make: a new merged epoch, persisted in the routing table before any
 * RV of it is presented, when there is none yet or a reader's position would pass the current epoch's
 * headroom. Persisted (not kept in memory) so every replica and every restart decodes alike.
 */
import { BridgeError, errorMessage } from '../../lib/errors.js';
import { appendMergedEpoch, MergedRVCodec } from '../../lib/routing/merged-rv.js';
import type { RoutingState } from '../../lib/routing/routing-state.js';
import type { RoutingTableStore } from '../../lib/routing/types.js';

export interface MergedEpochRoller {
  /** Persists a new merged epoch starting at (source, destination) unless another replica already did since `seen` epochs. */
  roll(source: bigint, destination: bigint, seen: number): Promise<void>;
  /** Reads the routing table back from the store (a replica behind another's merged epoch). */
  refresh(): Promise<void>;
}

const ROLL_ATTEMPTS = 3;

/** Compare-and-swap on the routing table store, as hand-offs write it; a lost race is retried on the newer table. */
export function storeRoller(store: RoutingTableStore, routing: RoutingState, now: () => Date = () => new Date()): MergedEpochRoller {
  return {
    async refresh() {
      const { table, version } = await store.load();
      routing.update(table, version);
    },
    async roll(source, destination, seen) {
      let lastError: unknown;
      for (let attempt = 0; attempt < ROLL_ATTEMPTS; attempt++) {
        const { table, version } = await store.load();
        if ((table.merged?.epochs.length ?? 0) > seen) return void routing.update(table, version);
        try {
          const next = appendMergedEpoch(table, source.toString(), destination.toString(), now());
          const written = await store.replace(next, version);
          routing.update(next, written.version);
          return;
        } catch (err) {
          lastError = err;
        }
      }
      throw new BridgeError('BRIDGE_ERR_MERGED_READ', `cannot persist a new merged resourceVersion epoch: ${errorMessage(lastError)}`, {
        retryAfterSeconds: 1,
      });
    },
  };
}

/**
 * The codec to present (source, destination) with: the current epoch's, or a new epoch's after a roll.
 * Undefined when a roll is needed and this replica cannot persist one (the caller answers 503).
 */
export async function presentingCodec(
  routing: Pick<RoutingState, 'table' | 'mergedCodec'>,
  roller: MergedEpochRoller | undefined,
  source: bigint,
  destination: bigint,
): Promise<MergedRVCodec | undefined> {
  const codec = routing.mergedCodec();
  if (!codec.needsRoll(source, destination)) return codec;
  if (!roller) return undefined;
  await roller.roll(source, destination, routing.table.merged?.epochs.length ?? 0);
  const rolled = routing.mergedCodec();
  return rolled.needsRoll(source, destination) ? undefined : rolled;
}
