// A namespace shard's owner change ends the watches it concerns (aggregator/handoff/shard-activity.ts):
// namespaced watches of that namespace, and every cluster-wide watch of a carried type (merged or the
// source's), registered under the type's key; nothing else.
import { describe, expect, it } from '@jest/globals';
import { ShardActivity, watchKeysOf } from '../../aggregator/handoff/shard-activity.js';

const table = { namespaceTypes: ['configmaps', 'secrets'] };

describe('closing watches at a namespace shard hand-off', () => {
  it('closes the namespace, the carried types cluster-wide, and leaves other namespaces and types open', () => {
    const activity = new ShardActivity();
    const closed: string[] = [];
    for (const key of ['namespace/app', 'namespace/app', 'namespace/shop', 'configmaps', 'secrets', 'services']) activity.addWatch(key, () => closed.push(key));
    expect(activity.closeWatches('namespace/app', table)).toBe(4);
    expect(closed.sort()).toEqual(['configmaps', 'namespace/app', 'namespace/app', 'secrets']);
    expect(activity.closeWatches('namespace/shop', { namespaceTypes: [] })).toBe(1);
    expect(activity.closeWatches('services')).toBe(1);
  });

  it('names the keys of a type shard alone, whatever the table carries', () => {
    expect(watchKeysOf('services', table)).toEqual(['services']);
    expect(watchKeysOf('namespace/app', table)).toEqual(['namespace/app', 'configmaps', 'secrets']);
  });

  it('waits for writes across namespaces of a carried type as for the namespace shard (one key each)', async () => {
    const activity = new ShardActivity();
    const end = activity.beginWrite('configmaps');
    expect(watchKeysOf('namespace/app', table).map((k) => activity.writesInFlight(k))).toEqual([0, 1, 0]);
    end();
    expect(await activity.writesDrained('configmaps', 10)).toBe(true);
  });
});
