import { describe, expect, it } from '@jest/globals';
import { DEMO_NAMESPACES, DEMO_NAMESPACE_SHARDS, describePositions, namespacesMovedAt } from '../../cli/demo-namespaces.js';
import { isSystemNamespace } from '../../lib/routing/resource-classes.js';
import { desiredOwner, namespaceOfShard, shardPosition } from '../../lib/routing/shard-hash.js';

describe('the demo namespaces (issue 24: F = 1%, 5%, 25% each move a visible, growing set)', () => {
  it('are 20 or more distinct application namespace names', () => {
    expect(DEMO_NAMESPACES.length).toBeGreaterThanOrEqual(20);
    expect(new Set(DEMO_NAMESPACES).size).toBe(DEMO_NAMESPACES.length);
    for (const ns of DEMO_NAMESPACES) {
      expect(ns).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      expect(isSystemNamespace(ns)).toBe(false);
    }
  });

  it('move at least one and at most a few at 1%, more at 5%, more at 25%, by their computed hash positions', () => {
    const counts = [0.01, 0.05, 0.25, 0.5, 1].map((f) => DEMO_NAMESPACES.filter((ns) => shardPosition(ns) < f).length);
    expect(counts[0]).toBeGreaterThanOrEqual(1);
    expect(counts[0]).toBeLessThanOrEqual(3);
    expect(counts[1]).toBeGreaterThan(counts[0]!);
    expect(counts[2]).toBeGreaterThan(counts[1]!);
    expect(counts[3]).toBeGreaterThan(counts[2]!);
    expect(counts[4]).toBe(DEMO_NAMESPACES.length);
    // What the module's comment and the README promise.
    expect(counts).toEqual([1, 3, 7, 12, 24]);
  });

  it('are listed in position order, and the rollout places their shards as namespacesMovedAt says', () => {
    const positions = DEMO_NAMESPACES.map((ns) => shardPosition(ns));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(namespacesMovedAt(0.01)).toEqual(['demo-support']);
    expect(namespacesMovedAt(0.05)).toEqual(['demo-support', 'demo-coupons', 'demo-gateway']);
    const stage = { name: '25%', shards: [...DEMO_NAMESPACE_SHARDS], fraction: 0.25 };
    const moved = DEMO_NAMESPACE_SHARDS.filter((key) => desiredOwner(key, stage) === 'destination').map((key) => namespaceOfShard(key));
    expect(moved).toEqual(namespacesMovedAt(0.25));
  });

  it('prints each position', () => {
    expect(describePositions()).toMatch(/^demo-support \.000, demo-coupons \.014, demo-gateway \.036, /);
  });
});
