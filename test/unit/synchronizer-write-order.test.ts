import { describe, expect, it } from '@jest/globals';
import type { KubeObject } from '../../lib/kube/types.js';
import { LagWindow, nearestRank } from '../../synchronizer/lag-window.js';
import { forEachLimited, ownerWaves } from '../../synchronizer/write-order.js';

const obj = (name: string, ...owners: string[]): KubeObject => ({
  metadata: {
    name,
    namespace: 'apps',
    uid: `uid-${name}`,
    ownerReferences: owners.map((o) => ({ apiVersion: 'v1', kind: 'ConfigMap', name: o, uid: `uid-${o}` })),
  },
});
const names = (waves: KubeObject[][]) => waves.map((w) => w.map((o) => o.metadata.name));

describe('ownerWaves: owners before dependents within a list', () => {
  const cases: { name: string; items: KubeObject[]; waves: string[][] }[] = [
    { name: 'no references: one wave in list order', items: [obj('b'), obj('a'), obj('c')], waves: [['b', 'a', 'c']] },
    { name: 'a dependent listed before its owner', items: [obj('a-child', 'b-parent'), obj('b-parent')], waves: [['b-parent'], ['a-child']] },
    {
      name: 'a chain and two owners',
      items: [obj('grandchild', 'child'), obj('child', 'root'), obj('root'), obj('both', 'root', 'child'), obj('alone')],
      waves: [['root', 'alone'], ['child'], ['grandchild', 'both']],
    },
    { name: 'an owner outside the list (another shard, gone): no wait here', items: [obj('x', 'elsewhere'), obj('y')], waves: [['x', 'y']] },
    { name: 'a reference to itself', items: [obj('self', 'self')], waves: [['self']] },
    { name: 'a cycle is broken, every object is kept once', items: [obj('p', 'q'), obj('q', 'p'), obj('r', 'q')], waves: [['q'], ['p', 'r']] },
  ];
  it.each(cases)('$name', ({ items, waves }) => {
    const result = ownerWaves(items);
    expect(names(result)).toEqual(waves);
    expect(result.flat()).toHaveLength(items.length);
  });
});

describe('forEachLimited', () => {
  it('runs every item once, never more than the limit at once', async () => {
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    await forEachLimited(
      Array.from({ length: 25 }, (_, i) => i),
      4,
      async (i) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, (i * 7) % 5));
        seen.push(i);
        running--;
      },
    );
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(peak).toBe(4);
  });

  it('waits for the tasks in flight, starts no new one after a failure, and then throws it', async () => {
    const finished: number[] = [];
    const run = forEachLimited([0, 1, 2, 3, 4, 5], 2, async (i) => {
      await new Promise((resolve) => setTimeout(resolve, i === 0 ? 1 : 20));
      if (i === 0) throw new Error('first failed');
      finished.push(i);
    });
    await expect(run).rejects.toThrow('first failed');
    expect(finished).toEqual([1]);
  });

  it('does nothing for no items', async () => {
    let calls = 0;
    await expect(forEachLimited([] as number[], 8, async () => void calls++)).resolves.toBeUndefined();
    expect(calls).toBe(0);
  });
});

describe('LagWindow', () => {
  it('summarises the recent writes as nearest-rank p50/p99, keeping only the last ones', () => {
    expect(new LagWindow().summary()).toEqual({ count: 0, p50Ms: 0, p99Ms: 0 });
    const lag = new LagWindow(100);
    for (let i = 1; i <= 100; i++) lag.add(i);
    expect(lag.summary()).toEqual({ count: 100, p50Ms: 50, p99Ms: 99 });
    for (let i = 0; i < 100; i++) lag.add(1000.04);
    expect(lag.summary()).toEqual({ count: 100, p50Ms: 1000, p99Ms: 1000 });
    expect(nearestRank([5], 99)).toBe(5);
    expect(nearestRank([1, 2, 3, 4], 50)).toBe(2);
  });
});
