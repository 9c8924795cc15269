/**
 * Namespace shards (issue 24, docs/adr/0026): the rules that keep them and type shards apart. A
 * namespace shard `namespace/<name>` carries every type of `RoutingTable.namespaceTypes` in that
 * namespace; a carried type is never also moved as a type shard (the two would present RVs of the same
 * object with two codecs), system namespaces are never namespace shards, and once any namespace shard
 * left the source a cluster-wide read of a carried type is merged from both clusters.
 */
import { BridgeError } from '../errors.js';
import { isSystemNamespace } from './resource-classes.js';
import { isNamespaceName, namespaceOfShard } from './shard-hash.js';
import type { RoutingTable, ShardKey, ShardState } from './types.js';

/** A type shard's entry that presented RVs other than the source's own: it moved, or is moving. */
export function typeShardMoved(state: ShardState | undefined): boolean {
  return state !== undefined && (state.epochs.length > 1 || state.owner !== 'source' || state.handoff !== undefined);
}

/** The namespace shards of a table (keys `namespace/<name>`). */
export function namespaceShards(table: RoutingTable): ShardState[] {
  return Object.values(table.shards).filter((s) => namespaceOfShard(s.shard) !== undefined);
}

/** Whether `type` is carried by namespace shards under this table. */
export function isCarried(table: RoutingTable, type: ShardKey): boolean {
  return table.namespaceTypes?.includes(type) ?? false;
}

/**
 * Whether a cluster-wide read of a carried type is merged from both clusters: once merged RVs were
 * presented it always is (they must not go down), and while any namespace shard is not the source's
 * or is changing owner.
 */
export function namespacesSplit(table: RoutingTable): boolean {
  if (table.merged?.epochs.length) return true;
  return namespaceShards(table).some((s) => s.owner !== 'source' || s.handoff !== undefined);
}

/** Why `namespace` cannot be a namespace shard, or undefined when it can. */
export function namespaceShardProblem(namespace: string): string | undefined {
  if (!isNamespaceName(namespace)) return `"${namespace}" is not a namespace name (a DNS-1123 label: lower-case alphanumerics and '-', at most 63)`;
  if (isSystemNamespace(namespace)) return `${namespace} is a system namespace: each cluster's own, never moved`;
  return undefined;
}

function refuse(message: string, fix?: string): never {
  throw new BridgeError('BRIDGE_ERR_ROUTING', message, fix ? { fix } : {});
}

/**
 * Throws BRIDGE_ERR_ROUTING unless `key` may start changing owner under `table`: a namespace shard
 * needs a valid application namespace, carried types, and none of them moved as a type shard; a type
 * shard must not be a carried type.
 */
export function checkShardKind(table: RoutingTable, key: ShardKey): void {
  const namespace = namespaceOfShard(key);
  if (namespace === undefined) {
    if (isCarried(table, key))
      refuse(
        `${key} is carried by namespace shards (the routing table's namespaceTypes): it never moves as a type shard`,
        `move its namespaces instead (--namespace)`,
      );
    return;
  }
  const problem = namespaceShardProblem(namespace);
  if (problem) refuse(`namespace shard ${key}: ${problem}`);
  if (!table.namespaceTypes?.length) refuse(`namespace shard ${key}: the routing table names no carried types (namespaceTypes)`);
  const moved = table.namespaceTypes.filter((type) => typeShardMoved(table.shards[type]));
  if (moved.length)
    refuse(
      `namespace shard ${key}: ${moved.join(', ')} moved as type shard${moved.length > 1 ? 's' : ''}; a carried type is never also a type shard`,
      'move those type shards back to the source and leave them out of type-shard plans, or carry other types',
    );
}

/**
 * The table with its carried types set (before a first namespace hand-off). Once any namespace shard
 * exists they are fixed: changing them would route requests of a type by another shard and codec.
 */
export function withNamespaceTypes(table: RoutingTable, types: readonly ShardKey[]): RoutingTable {
  const wanted = [...new Set(types)].sort();
  if (JSON.stringify(table.namespaceTypes ?? []) === JSON.stringify(wanted)) return table;
  if (namespaceShards(table).length > 0)
    refuse(
      `the carried types are fixed once a namespace shard exists: the table carries ${(table.namespaceTypes ?? []).join(', ') || 'nothing'}, asked ${wanted.join(', ')}`,
      "keep the aggregator's BRIDGE_NAMESPACE_TYPES as it was",
    );
  const moved = wanted.filter((type) => typeShardMoved(table.shards[type]));
  if (moved.length) refuse(`cannot carry ${moved.join(', ')} in namespace shards: moved as type shards`);
  return { ...table, generation: table.generation + 1, namespaceTypes: wanted };
}

/** The checks validateRoutingTable makes of namespace shards and carried types; returns the first problem as [field, problem]. */
export function namespaceTableProblem(table: RoutingTable): [string, string] | undefined {
  const types = table.namespaceTypes;
  if (types !== undefined && (!Array.isArray(types) || types.some((t) => typeof t !== 'string' || t === '' || namespaceOfShard(t) !== undefined)))
    return ['namespaceTypes', 'must be a list of type shard keys'];
  for (const key of Object.keys(table.shards)) {
    const namespace = namespaceOfShard(key);
    if (namespace === undefined) {
      if (types?.includes(key) && typeShardMoved(table.shards[key])) return [`shards["${key}"]`, 'a carried type (namespaceTypes) never moves as a type shard'];
      continue;
    }
    const problem = namespaceShardProblem(namespace);
    if (problem) return [`shards["${key}"]`, problem];
    if (!types?.length) return [`shards["${key}"]`, 'a namespace shard needs carried types (namespaceTypes)'];
  }
  return undefined;
}
