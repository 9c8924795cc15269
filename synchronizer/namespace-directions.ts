/**
 * Which way each namespace's objects of a carried type (RoutingTable.namespaceTypes) are mirrored:
 * from the owner of the namespace's shard (`namespace/<ns>`; without one, the source) to the other
 * side (docs: synchronizer/README.md, "Namespace shards"). A carried type has two mirrors, one from
 * each side (shard-mirror.ts), each covering the namespaces its side owns; this class is their shared
 * view of the table, so a namespace's owner change flips its direction alone and no object is ever
 * covered by both (a copy is never mirrored back).
 */
import { isSystemNamespace } from '../lib/routing/resource-classes.js';
import { emptyRoutingTable, lastHandoffRevision, shardState } from '../lib/routing/routing-table.js';
import { namespaceOfShard, namespaceShardKey } from '../lib/routing/shard-hash.js';
import type { ClusterSide, RoutingTable, ShardKey } from '../lib/routing/types.js';

/** What a shard mirror asks, per namespace, of the part of its type it copies (a type shard's answer is the same for all). */
export interface MirrorScope {
  /** Whether the mirror copies, and deletes, objects of `namespace` now ('' for cluster-scoped objects). */
  covers(namespace: string): boolean;
  /**
   * A source-first mark (lib/mirror/copy.ts isSourceFirstPending) on an object of `namespace` is stale:
   * the aggregator makes them only while the destination owns it, and the hold drains them, so such an
   * object lost its adoption and is mirrored as an original (shard-mirror.ts apply).
   */
  sourceFirstMarksStale(namespace: string): boolean;
  /**
   * The source's revision when it handed `namespace`'s objects to the destination (this mirror's
   * owner), read back from the routing table's epochs: a source original not changed since that the
   * destination lacks was deleted there (shard-mirror.ts reconcile).
   */
  handedOverAtReplicaRV(namespace: string): bigint | undefined;
}

/** A type shard's scope: every namespace, the same answers for all (server.ts sets them when it starts the mirror). */
export function wholeTypeScope(options: { sourceFirstMarksStale?: boolean; handedOverAtReplicaRV?: bigint } = {}): MirrorScope {
  return {
    covers: () => true,
    sourceFirstMarksStale: () => options.sourceFirstMarksStale ?? false,
    handedOverAtReplicaRV: () => options.handedOverAtReplicaRV,
  };
}

/** A namespace whose mirror changed: `from` stops covering it (absent: none did), `to` starts. */
export interface DirectionChange {
  namespace: string;
  from?: ClusterSide;
  to: ClusterSide;
}

const other = (side: ClusterSide): ClusterSide => (side === 'source' ? 'destination' : 'source');

/** The side a namespace's objects of a carried type are mirrored from: its namespace shard's owner, else the source. */
export function namespaceOwner(table: RoutingTable, namespace: string): ClusterSide {
  if (!namespace || isSystemNamespace(namespace)) return 'source';
  return table.shards[namespaceShardKey(namespace)]?.owner ?? 'source';
}

/** The types mirrored per namespace: those of the table's namespaceTypes this synchronizer mirrors. */
export function carriedTypes(table: RoutingTable, mirrored: readonly ShardKey[]): ShardKey[] {
  const carried = new Set(table.namespaceTypes ?? []);
  return mirrored.filter((shard) => carried.has(shard));
}

const namespacesOf = (table: RoutingTable): string[] =>
  Object.keys(table.shards)
    .map(namespaceOfShard)
    .filter((ns): ns is string => !!ns);

export class NamespaceDirections {
  private table: RoutingTable = emptyRoutingTable();
  /**
   * Namespaces whose hand-off's catch-up was answered, and the side (the old owner) whose mirror stops
   * copying them until the routing table shows the hand-off ended (the namespace analogue of
   * ShardMirror.pause(): anything more it copied would race the new owner's first writes).
   */
  private readonly paused = new Map<string, ClusterSide>();

  owner(namespace: string): ClusterSide {
    return namespaceOwner(this.table, namespace);
  }

  /** The namespaces `side` owns by the table (a namespace not in it is the source's). */
  ownedBy(side: ClusterSide): string[] {
    return namespacesOf(this.table).filter((namespace) => this.owner(namespace) === side);
  }

  /** The mirror from `side` copies the namespace (unless paused there: ShardMirror.pauseNamespace). */
  covers(side: ClusterSide, namespace: string): boolean {
    return this.owner(namespace) === side;
  }

  isPaused(namespace: string): boolean {
    return this.paused.has(namespace);
  }

  /** Records that the mirrors from `side` stopped copying `namespace` (ShardMirror.pauseNamespace) until the hand-off ends (update()). */
  pause(namespace: string, side: ClusterSide): void {
    this.paused.set(namespace, side);
  }

  /**
   * Takes a new table; returns the namespaces whose mirror changed: turned around (the owner changed;
   * the new side inherits what the old one knew) or resumed after an aborted hand-off (same side).
   */
  update(next: RoutingTable): DirectionChange[] {
    const previous = this.table;
    this.table = next;
    const changes: DirectionChange[] = [];
    for (const namespace of new Set([...namespacesOf(previous), ...namespacesOf(next)])) {
      const before = namespaceOwner(previous, namespace);
      const after = namespaceOwner(next, namespace);
      const pausedSide = this.paused.get(namespace);
      if (before !== after) {
        this.paused.delete(namespace);
        changes.push({ namespace, from: before, to: after });
      } else if (pausedSide && !next.shards[namespaceShardKey(namespace)]?.handoff) {
        this.paused.delete(namespace);
        // Aborted: the paused side copies again (it may have held changes back); a pause of the other side covered nothing.
        if (pausedSide === after) changes.push({ namespace, to: after });
      }
    }
    return changes;
  }

  /** The scope of a carried type's mirror from `side`. */
  scope(side: ClusterSide): MirrorScope {
    return {
      covers: (namespace) => this.covers(side, namespace),
      // A source-owned namespace with no hand-off running: the aggregator makes no source-first creates there.
      sourceFirstMarksStale: (namespace) => side === 'source' && !this.table.shards[namespaceShardKey(namespace)]?.handoff,
      handedOverAtReplicaRV: (namespace) => {
        if (side !== 'destination') return undefined;
        const handedOver = lastHandoffRevision(shardState(this.table, namespaceShardKey(namespace)));
        return handedOver?.from === other(side) ? handedOver.rv : undefined;
      },
    };
  }
}

/** What applyDirectionChanges needs of a carried type's mirror (shard-mirror.ts leave/join). */
export interface NamespaceMirror {
  leave(namespace: string): string[];
  join(namespace: string, inherited?: readonly string[]): void;
}

/**
 * Turns namespaces around between a carried type's two mirrors (`mirrorFrom(side)`): the side that
 * stops covering a namespace forgets it and hands over what it knew of the old owner's objects; the
 * side that starts reconciles it. A resumed namespace (aborted hand-off) is reconciled by its side.
 */
export function applyDirectionChanges(changes: readonly DirectionChange[], mirrorFrom: (side: ClusterSide) => NamespaceMirror): void {
  for (const { namespace, from, to } of changes) mirrorFrom(to).join(namespace, from ? mirrorFrom(from).leave(namespace) : []);
}
