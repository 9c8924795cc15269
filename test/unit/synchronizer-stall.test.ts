// A shard mirror whose replica API server stalls (issue 21): a DELETE that times out while a watch
// event is applied must neither reject unhandled (Node ended the synchronizer on it) nor be lost: the
// watch ends, the mirror relists, and the replica converges once the API server answers again.
// The lab drill is test/e2e/fault-drills.test.ts.
import { afterEach, describe, expect, it } from '@jest/globals';
import { waitUntil } from '../../lib/wait-until.js';
import { ShardMirror } from '../../synchronizer/shard-mirror.js';
import { CONFIGMAPS_API, FakeCluster, quietCounters } from '../helpers/mirror-fixtures.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';

const configMap = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'apps' }, data: { k: 'v' } });
const PATH = '/api/v1/namespaces/apps/configmaps/';

describe('ShardMirror under a stalled replica API server', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  let mirror: ShardMirror | undefined;
  afterEach(() => {
    mirror?.stop();
    process.off('unhandledRejection', onUnhandled);
  });

  it('ends the watch on a failed event instead of leaving its rejection unhandled, relists, and converges after the stall', async () => {
    process.on('unhandledRejection', onUnhandled);
    const source = new FakeCluster('source');
    const destination = new FakeCluster('destination');
    source.add(configMap('goes'));
    source.add(configMap('stays'));
    mirror = new ShardMirror('configmaps', CONFIGMAPS_API, source.asSide(), destination.asSide(), quietCounters, silentLog);
    mirror.start();
    await waitUntil('the first watch', async () => source.watches.length === 1 && destination.get('goes') !== undefined, { timeoutMs: 5000, intervalMs: 10 });

    // The destination stalls: every DELETE times out. The owner deletes `goes` and the watch says so, twice over.
    destination.stalled = (method) => method === 'DELETE';
    source.objects.delete(`${PATH}goes`);
    const deleted = JSON.stringify({ type: 'DELETED', object: { ...configMap('goes'), metadata: { ...configMap('goes').metadata, resourceVersion: '1001' } } });
    source.watches[0]!.write(`${deleted}\n${deleted}\n`);
    await waitUntil('the failed event to end the watch and a relist to fail on the stall too', async () => mirror!.progress().phase === 'retrying', {
      timeoutMs: 5000,
      intervalMs: 10,
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
    expect(destination.get('goes')).toBeDefined();

    // The stall ends: the mirror's own retry deletes the copy, nothing else has to happen.
    destination.stalled = undefined;
    await waitUntil('the replica to converge', async () => destination.get('goes') === undefined && source.watches.length >= 2, {
      timeoutMs: 10_000,
      intervalMs: 20,
    });
    expect(destination.get('stays')).toBeDefined();
    expect(mirror.progress().errors['list-or-watch']).toBeGreaterThanOrEqual(1);
    expect(unhandled).toEqual([]);
  });
});
