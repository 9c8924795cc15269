// Which CRDs make their custom resources mirrored while the CRD shard is (synchronizer/crd-discovery.ts):
// Established ones of movable types. The lab test in test/e2e/synchronizer-kinds-private.test.ts runs it.
import { describe, expect, it } from '@jest/globals';
import { waitUntil } from '../../lib/wait-until.js';
import { customResourceShard, offerUntilTaken } from '../../synchronizer/crd-discovery.js';

const crd = (group: string, plural: string, established: string | undefined) => ({
  metadata: { name: `${plural}.${group}` },
  spec: { group, names: { plural } },
  status:
    established === undefined
      ? {}
      : {
          conditions: [
            { type: 'NamesAccepted', status: 'True' },
            { type: 'Established', status: established },
          ],
        },
});

describe('customResourceShard', () => {
  it.each([
    ['an Established CRD', crd('example.com', 'widgets', 'True'), 'widgets.example.com'],
    ['a CRD not Established yet', crd('example.com', 'widgets', 'False'), undefined],
    ['a CRD without conditions', crd('example.com', 'widgets', undefined), undefined],
    ["the bridge's own BridgeRollout (system)", crd('cluster-bridge.io', 'bridgerollouts', 'True'), undefined],
    ['a CRD without a group', crd('', 'widgets', 'True'), undefined],
  ])('%s', (_what, definition, expected) => {
    expect(customResourceShard(definition)).toBe(expected);
  });
});

describe('offerUntilTaken', () => {
  it('offers a type again until the synchronizer takes it (its group reaches discovery after Established)', async () => {
    const answers = [false, false, true];
    const offered: string[] = [];
    offerUntilTaken(
      'widgets.example.com',
      async (shard) => (offered.push(shard), answers.shift() ?? true),
      () => true,
      5,
    );
    await waitUntil('the third offer', () => offered.length === 3, { timeoutMs: 5000, intervalMs: 5 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(offered).toEqual(['widgets.example.com', 'widgets.example.com', 'widgets.example.com']);
  });

  it('stops offering once the CRD is gone, or when cancelled', async () => {
    let wanted = true;
    let offers = 0;
    offerUntilTaken(
      'widgets.example.com',
      async () => (++offers, false),
      () => wanted,
      5,
    );
    await waitUntil('a second offer', () => offers >= 2, { timeoutMs: 5000, intervalMs: 5 });
    wanted = false;
    const afterGone = offers;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(offers).toBeLessThanOrEqual(afterGone + 1); // one may have been on its way
    let cancelledOffers = 0;
    const offer = offerUntilTaken(
      'gadgets.example.com',
      async () => (++cancelledOffers, false),
      () => true,
      5,
    );
    offer.cancel();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(cancelledOffers).toBe(1);
  });
});
