/**
 * CRDs discovered, their custom resources included: while the CRD shard is mirrored, every movable
 * custom resource type the source serves is mirrored too, without being listed in BRIDGE_SHARDS. A
 * list-and-watch of the source's CRDs reports a type once its CRD is Established there (the source
 * is where a CRD created on either side ends up, through the CRD shard's mirror) and again when its
 * CRD is gone. Types listed in BRIDGE_SHARDS are the caller's to keep either way.
 */
import type { KubeRestClient } from '../lib/kube-rest-client.js';
import { listAndWatch } from '../lib/list-watch.js';
import type { Logger } from '../lib/logger.js';
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
  added(shard: ShardKey): void;
  removed(shard: ShardKey): void;
}

/** Follows the source's CRDs; reports each custom resource shard as it appears and goes. */
export function watchCustomResourceShards(source: KubeRestClient, on: CustomResourceShards, log: Logger): { stop(): void } {
  const known = new Map<string, ShardKey>(); // CRD name -> its shard
  const seen = (crd: Crd) => {
    const shard = customResourceShard(crd);
    const before = known.get(crd.metadata.name);
    if (shard === before) return;
    if (before) {
      known.delete(crd.metadata.name);
      on.removed(before);
    }
    if (shard) {
      known.set(crd.metadata.name, shard);
      on.added(shard);
    }
  };
  const gone = (name: string) => {
    const shard = known.get(name);
    if (!shard) return;
    known.delete(name);
    on.removed(shard);
  };
  return listAndWatch<Crd>(
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
}
