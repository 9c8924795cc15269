/**
 * CRDs discovered, their custom resources included: while the CRD shard is mirrored, every movable
 * custom resource type the source serves is mirrored too, without being listed in BRIDGE_SHARDS. A
 * list-and-watch of the source's CRDs reports a type once its CRD is Established there (the source
 * is where a CRD created on either side ends up, through the CRD shard's mirror) and again when its
 * CRD is gone. Types listed in BRIDGE_SHARDS are the caller's to keep either way.
 */
import type { KubeRestClient } from '../lib/kube/rest-client.js';
import { listAndWatch } from '../lib/kube/list-watch.js';
import type { Logger } from '../lib/process/logger.js';
import { classOf } from '../lib/routing/resource-classes.js';
import { shardKey } from '../lib/routing/shard-hash.js';
import type { ShardKey } from '../lib/routing/types.js';
import { CRD_PATH } from './crd-readiness.js';

interface Crd {
  metadata: { name: string };
  spec?: { group?: string; names?: { plural?: string } };
  status?: { conditions?: { type?: string; status?: string }[] };
}

/** The shard of the custom resources a CRD defines, when it is Established and its type movable. */
export function customResourceShard(crd: Crd): ShardKey | undefined {
  const group = crd.spec?.group;
  const resource = crd.spec?.names?.plural;
  if (!group || !resource) return undefined;
  if (!crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return undefined;
  return classOf({ group, resource }) === 'movable' ? shardKey(group, resource) : undefined;
}

export interface CustomResourceShards {
  /** False when the type cannot be mirrored yet (its group not served yet): offered again while its CRD stays. */
  added(shard: ShardKey): Promise<boolean>;
  removed(shard: ShardKey): void;
}

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 30_000;

/**
 * Offers a shard until `added` takes it or `wanted()` says its CRD went, 1 s doubling to 30 s between
 * tries: a CRD is Established before the API server's discovery serves its group, and nothing else
 * would make the synchronizer ask again.
 */
export function offerUntilTaken(
  shard: ShardKey,
  added: (shard: ShardKey) => Promise<boolean>,
  wanted: () => boolean,
  firstRetryMs = FIRST_RETRY_MS,
): { cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  let cancelled = false;
  const offer = (delayMs: number) => {
    void added(shard).then(
      (taken) => {
        if (taken || cancelled || !wanted()) return;
        timer = setTimeout(() => offer(Math.min(delayMs * 2, MAX_RETRY_MS)), delayMs);
        timer.unref();
      },
      () => undefined,
    );
  };
  offer(firstRetryMs);
  return {
    cancel() {
      cancelled = true;
      clearTimeout(timer);
    },
  };
}

/** Follows the source's CRDs; reports each custom resource shard as it appears and goes. */
export function watchCustomResourceShards(source: KubeRestClient, on: CustomResourceShards, log: Logger): { stop(): void } {
  const known = new Map<string, ShardKey>(); // CRD name -> its shard
  const offers = new Map<string, { cancel(): void }>(); // CRD name -> its shard's offer
  const forget = (name: string, shard: ShardKey) => {
    offers.get(name)?.cancel();
    offers.delete(name);
    known.delete(name);
    on.removed(shard);
  };
  const seen = (crd: Crd) => {
    const { name } = crd.metadata;
    const shard = customResourceShard(crd);
    const before = known.get(name);
    if (shard === before) return;
    if (before) forget(name, before);
    if (shard) {
      known.set(name, shard);
      offers.set(
        name,
        offerUntilTaken(shard, on.added, () => known.get(name) === shard),
      );
    }
  };
  const gone = (name: string) => {
    const shard = known.get(name);
    if (shard) forget(name, shard);
  };
  const watch = listAndWatch<Crd>(
    source,
    CRD_PATH,
    {
      onList(items) {
        const names = new Set(items.map((crd) => crd.metadata.name));
        for (const name of [...known.keys()]) if (!names.has(name)) gone(name);
        for (const crd of items) seen(crd);
      },
      onEvent(type, crd) {
        if (type === 'DELETED') gone(crd.metadata.name);
        else seen(crd);
      },
    },
    { log },
  );
  return {
    stop() {
      watch.stop();
      for (const offer of offers.values()) offer.cancel();
    },
  };
}
