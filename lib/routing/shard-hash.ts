/**
 * Shard names and the fixed hash that places each shard in [0, 1) (DESIGN.md section 3). Every
 * aggregator replica, sidecar and the rollout controller compute the same position, so a shard's
 * desired owner for a fraction F never depends on who asks.
 *
 * The hash, documented so other implementations can reproduce it: SHA-256 of the shard key's UTF-8
 * bytes; the first 52 bits, read big-endian as an unsigned integer, divided by 2^52 (exact in a double).
 */
import { createHash } from 'node:crypto';
import type { ClusterSide, PlanStage, ShardKey } from './types.js';

/** kubectl's name for a type: `configmaps` (core group), `deployments.apps`, `widgets.example.com`. */
export function shardKey(group: string, resource: string): ShardKey {
  return group === '' ? resource : `${resource}.${group}`;
}

/** The inverse of shardKey: the first dot separates the resource (resource names have no dots). */
export function parseShardKey(key: ShardKey): { group: string; resource: string } {
  const dot = key.indexOf('.');
  return dot < 0 ? { group: '', resource: key } : { group: key.slice(dot + 1), resource: key.slice(0, dot) };
}

const NAMESPACE_SHARD_PREFIX = 'namespace/';

/** A namespace shard's key: `namespace/<name>` (every carried type of that namespace). */
export function namespaceShardKey(namespace: string): ShardKey {
  return `${NAMESPACE_SHARD_PREFIX}${namespace}`;
}

/** The namespace a namespace shard carries; undefined for a type shard. */
export function namespaceOfShard(key: ShardKey): string | undefined {
  return key.startsWith(NAMESPACE_SHARD_PREFIX) ? key.slice(NAMESPACE_SHARD_PREFIX.length) : undefined;
}

const positions = new Map<ShardKey, number>();

/** The shard's fixed position in [0, 1). */
export function shardPosition(key: ShardKey): number {
  let position = positions.get(key);
  if (position === undefined) {
    const digest = createHash('sha256').update(key, 'utf8').digest();
    // 52 bits = 6 bytes plus the high nibble of the 7th.
    const high = digest.readUIntBE(0, 6); // 48 bits
    position = (high * 16 + (digest[6]! >> 4)) / 2 ** 52;
    positions.set(key, position);
  }
  return position;
}

/**
 * Where a shard sits against F: a type shard by the hash of its key, a namespace shard by the hash of
 * its namespace's name (issue 24: `hash(namespace)`), so F is the fraction of selected namespaces.
 */
export function placement(key: ShardKey): number {
  return shardPosition(namespaceOfShard(key) ?? key);
}

/** A Kubernetes namespace name: a DNS-1123 label (lower-case alphanumerics and '-', at most 63). */
export function isNamespaceName(name: string): boolean {
  return name.length > 0 && name.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name);
}

export function stageSelects(stage: PlanStage, key: ShardKey): boolean {
  return stage.shards[0] === '*' || (stage.shards as ShardKey[]).includes(key);
}

/** Where a shard should live at a stage: the destination iff the stage selects it and its placement < F. */
export function desiredOwner(key: ShardKey, stage: PlanStage | undefined): ClusterSide {
  if (!stage || !stageSelects(stage, key)) return 'source';
  return placement(key) < stage.fraction ? 'destination' : 'source';
}
