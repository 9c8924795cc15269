// Which CRDs make their custom resources mirrored while the CRD shard is (synchronizer/crd-discovery.ts):
// Established ones of movable types. The lab test in test/e2e/synchronizer-kinds-private.test.ts runs it.
import { describe, expect, it } from '@jest/globals';
import { customResourceShard } from '../../synchronizer/crd-discovery.js';

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
