// Hand-offs with several aggregator replicas (aggregator/handoff/replica-presence.ts): which replicas the
// hand-off leader waits for, and which shards' watches a replica closes on a new table. The lab test
// (test/e2e/rollout.test.ts) runs two replicas, the workload on the one that does not lead.
import { describe, expect, it } from '@jest/globals';
import { replicasBehind, shardsChanged, type ReplicaLease } from '../../aggregator/handoff/replica-presence.js';
import { ROUTING_GENERATION_ANNOTATION } from '../../lib/names.js';
import { beginHandoff, completeHandoff, emptyRoutingTable } from '../../lib/routing/routing-table.js';

const NOW = Date.parse('2026-11-23T00:00:00Z');
const lease = (identity: string, generation: number, renewedSecondsAgo: number, durationSeconds = 10): ReplicaLease => ({
  metadata: { name: `r-${identity}`, annotations: { [ROUTING_GENERATION_ANNOTATION]: String(generation) } },
  spec: { holderIdentity: identity, leaseDurationSeconds: durationSeconds, renewTime: new Date(NOW - renewedSecondsAgo * 1000).toISOString() },
});

describe('replicasBehind', () => {
  it('waits for live replicas on an older table, never for itself, the caught-up or the long gone', () => {
    const leases = [lease('me', 1, 0), lease('behind', 4, 1), lease('current', 5, 1), lease('ahead', 6, 1), lease('gone', 1, 13)];
    expect(replicasBehind(leases, 'me', 5, NOW)).toEqual(['behind']);
  });

  it('counts a replica as gone only a grace period after its Lease expired (it has fenced itself by then)', () => {
    expect(replicasBehind([lease('late', 1, 11)], 'me', 5, NOW)).toEqual(['late']); // expired 1 s ago: maybe still writing
    expect(replicasBehind([lease('late', 1, 12.5)], 'me', 5, NOW)).toEqual([]);
  });

  it('treats a Lease without a generation as behind', () => {
    const bare: ReplicaLease = { metadata: { name: 'r-x' }, spec: { holderIdentity: 'x', leaseDurationSeconds: 10, renewTime: new Date(NOW).toISOString() } };
    expect(replicasBehind([bare], 'me', 0, NOW)).toEqual(['x']);
  });
});

describe('shardsChanged', () => {
  it('names the shards whose hold began or ended, or whose owner or epoch changed', () => {
    const start = emptyRoutingTable();
    const held = beginHandoff(start, 'secrets', 'destination', new Date(NOW));
    expect(shardsChanged(start, held)).toEqual(['secrets']);
    const moved = completeHandoff(held, 'secrets', '100', new Date(NOW));
    expect(shardsChanged(held, moved)).toEqual(['secrets']);
    expect(shardsChanged(moved, moved)).toEqual([]);
  });
});
