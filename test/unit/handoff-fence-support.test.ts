// A hand-off to the destination is refused where the source cannot enforce the fence (issue 21: below
// Kubernetes 1.30 hand-offs went on unfenced), before any write is held; a move back to the source
// needs no fence and still runs.
import { describe, expect, it } from '@jest/globals';
import { fenceUnenforceable, decideFenceSupport } from '../../aggregator/handoff/fence-support.js';
import { ShardHandoff, type HandoffDeps } from '../../aggregator/handoff/handoff.js';
import { RoutingState } from '../../lib/routing/routing-state.js';
import { emptyRoutingTable } from '../../lib/routing/routing-table.js';
import type { RoutingTable } from '../../lib/routing/types.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';

const old = decideFenceSupport({ major: '1', minor: '28', gitVersion: 'v1.28.15' }, false);

function handoff(persisted: RoutingTable[]) {
  const routing = new RoutingState();
  routing.update(emptyRoutingTable(), '1');
  const store = {
    replace: async (table: RoutingTable) => {
      persisted.push(table);
      return { version: String(persisted.length + 1) };
    },
  };
  const deps = {
    store,
    routing,
    log: silentLog,
    assertFenceable: async (shard: string) => {
      if (!old.enforceable) throw fenceUnenforceable(old, shard);
    },
  } as unknown as HandoffDeps;
  return new ShardHandoff(deps);
}

describe('a hand-off where the source cannot enforce the fence', () => {
  it('is refused with the reason, and no write was ever held', async () => {
    const persisted: RoutingTable[] = [];
    await expect(handoff(persisted).changeOwner('configmaps', 'destination', 'test')).rejects.toMatchObject({
      code: 'BRIDGE_ERR_FENCE_UNENFORCEABLE',
      message: expect.stringContaining('v1.28.15'),
    });
    expect(persisted).toEqual([]);
  });
});
