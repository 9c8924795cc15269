/**
 * Check 2: every movable type the bridge would mirror or move (the synchronizer's default shards and
 * the source's custom resources) is served by the destination, in every version the source serves it:
 * clients ask for a version, and a shard moved to a destination without it answers them 404.
 */
import { classOf, DEFAULT_SHARDS } from '../../lib/routing/resource-classes.js';
import { parseShardKey, shardKey } from '../../lib/routing/shard-hash.js';
import type { ShardKey } from '../../lib/routing/types.js';
import type { KubeApi } from './clusters.js';
import { listCapped, type CheckResult } from './report.js';

/** shard key -> the versions it is served in. */
export type ServedTypes = Map<ShardKey, Set<string>>;

interface ResourceList {
  resources?: { name: string }[];
}

function addResources(served: ServedTypes, group: string, version: string, list: ResourceList): void {
  for (const { name } of list.resources ?? []) {
    if (name.includes('/')) continue; // a subresource
    const key = shardKey(group, name);
    served.set(key, (served.get(key) ?? new Set()).add(version));
  }
}

/** Discovery of the named API groups only ('' is the core group): two or three small GETs per group. */
export async function servedTypes(client: KubeApi, groups: Iterable<string>): Promise<ServedTypes> {
  const served: ServedTypes = new Map();
  for (const group of new Set(groups)) {
    const base = group === '' ? '/api' : `/apis/${group}`;
    const index = await client.expect<{ versions?: (string | { version: string })[] }>('GET', base, [200, 404]);
    if (index.status === 404) continue;
    for (const entry of index.body.versions ?? []) {
      const version = typeof entry === 'string' ? entry : entry.version;
      const list = await client.expect<ResourceList>('GET', `${base}/${version}`, [200, 404]);
      if (list.status === 200) addResources(served, group, version, list.body);
    }
  }
  return served;
}

/** `group/version resource` for each version `needed` has and `served` lacks, sorted. */
export function missingTypes(needed: ServedTypes, served: ServedTypes): string[] {
  const missing: string[] = [];
  for (const [shard, versions] of needed) {
    const { group, resource } = parseShardKey(shard);
    for (const version of versions) {
      if (!served.get(shard)?.has(version)) missing.push(`${group ? `${group}/` : ''}${version} ${resource}`);
    }
  }
  return missing.sort();
}

interface CrdList {
  items: { spec: { group: string; names: { plural: string } } }[];
}

/** The source's custom resource types that are movable (the bridge's own CRD is the cluster's machinery). */
export async function sourceCrdShards(source: KubeApi): Promise<ShardKey[]> {
  const crds = await source.expect<CrdList>('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', [200]);
  return crds.body.items.map((crd) => shardKey(crd.spec.group, crd.spec.names.plural)).filter((key) => classOf(parseShardKey(key)) === 'movable');
}

export async function checkApiTypes(source: KubeApi, destination: KubeApi): Promise<CheckResult> {
  const custom = await sourceCrdShards(source);
  const shards = [...new Set([...DEFAULT_SHARDS, ...custom])];
  const groups = shards.map((shard) => parseShardKey(shard).group);
  const sourceServed = await servedTypes(source, groups);
  const needed: ServedTypes = new Map(shards.flatMap((shard) => (sourceServed.has(shard) ? [[shard, sourceServed.get(shard)!] as const] : [])));
  const missing = missingTypes(needed, await servedTypes(destination, groups));
  if (missing.length > 0) {
    return {
      check: 'api-types',
      ok: false,
      detail: `the destination does not serve ${missing.length} of the source's movable API types: ${listCapped(missing)}`,
      fix:
        'create the missing CustomResourceDefinitions in the destination (copy them from the source) ' +
        'or enable those API versions on its kube-apiserver (--runtime-config)',
      failures: missing,
    };
  }
  return {
    check: 'api-types',
    ok: true,
    detail:
      `the destination serves all ${needed.size} movable types of the source (${DEFAULT_SHARDS.length} default shards, ${custom.length} from CRDs) ` +
      'in every version the source serves',
  };
}
