/**
 * What a catch-up question (lib/mirror/catchup.ts, catchup-server.ts) is asked about: a type shard is
 * one mirror; a namespace shard (`namespace/<ns>`) is that namespace's part of every carried type's
 * mirror from its owner (namespace-directions.ts). The server answers both the same way.
 */
import type { ClusterSide, ShardKey } from '../lib/routing/types.js';
import type { ShardMirror } from './shard-mirror.js';

export interface CatchUpTarget {
  shard: ShardKey;
  /** The side its mirrors copy from now, per this synchronizer's view of the routing table. */
  from: ClusterSide;
  /** The revision of `from` up to which the shard's objects are known complete on the other side. */
  syncedRV(): bigint;
  /** Objects of `from` the other side refused (retried), as `<key>` or `<type> <key>`. */
  failing(): string[];
  lastError(): string | undefined;
  /** A full reconcile of the shard's mirrors (it also writes again what the other side refused before). */
  reconcile(): Promise<unknown>;
  /** A hand-off's question was answered caught up: copy nothing more from `from` until the hand-off ends. */
  pause(): void;
}

/** A type shard: its one mirror. */
export function mirrorTarget(mirror: ShardMirror): CatchUpTarget {
  return {
    shard: mirror.shard,
    from: mirror.owner.side,
    syncedRV: () => mirror.syncedRV,
    failing: () => [...mirror.failingObjects],
    lastError: () => mirror.lastError,
    reconcile: () => mirror.reconcile(),
    pause: () => mirror.pause(),
  };
}

/**
 * A namespace shard: namespace `namespace` of each carried type's mirror from `from` (one per type).
 * Caught up at R when each of them is: the namespace's objects changed on `from` at or below R are
 * on the other side. `pause` records the pause in NamespaceDirections (so the end of the hand-off
 * resumes or turns the namespace around); each mirror stops copying the namespace.
 */
export function namespaceTarget(shard: ShardKey, namespace: string, from: ClusterSide, mirrors: readonly ShardMirror[], pause: () => void): CatchUpTarget {
  // A later question about a paused namespace (a hand-off aborted and begun again unseen) reconciles it too.
  return {
    shard,
    from,
    syncedRV: () => mirrors.reduce((least, m) => (m.syncedRVOf(namespace) < least ? m.syncedRVOf(namespace) : least), mirrors[0]?.syncedRVOf(namespace) ?? 0n),
    failing: () => mirrors.flatMap((m) => m.failingIn(namespace).map((key) => `${m.shard} ${key}`)),
    lastError: () => mirrors.find((m) => m.failingIn(namespace).length > 0)?.lastError,
    reconcile: () => Promise.all(mirrors.map((m) => m.reconcile({ paused: true }))),
    pause: () => {
      pause();
      for (const mirror of mirrors) mirror.pauseNamespace(namespace);
    },
  };
}
