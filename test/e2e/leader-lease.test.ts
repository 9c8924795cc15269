// Leader election on a real Lease: one holder at a time, and a released lease is taken at once.
import { afterAll, describe, expect, it } from '@jest/globals';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { LeaderLease } from '../../lib/kube/leader-lease.js';
import { createNamespace, kubeconfigPath } from '../helpers/lab-clients.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';

const client = KubeRestClient.load(kubeconfigPath('destination'));
afterAll(() => client.close());

describe('LeaderLease', () => {
  it('lets one candidate lead, and a successor take over as soon as the leader releases', async () => {
    const namespace = await createNamespace('destination', 'lease');
    const first = new LeaderLease(client, namespace, 'e2e', silentLog, 30, 10);
    const second = new LeaderLease(client, namespace, 'e2e', silentLog, 30, 10);
    expect(await first.tryAcquireOrRenew()).toBe(true);
    expect(await second.tryAcquireOrRenew()).toBe(false);
    expect(first.isLeader()).toBe(true);
    await first.release();
    expect(first.isLeader()).toBe(false);
    // Without the release the second would wait out the 30-second lease.
    expect(await second.tryAcquireOrRenew()).toBe(true);
    expect(await first.tryAcquireOrRenew()).toBe(false);
  });
});
