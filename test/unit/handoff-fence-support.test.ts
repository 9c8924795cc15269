// A hand-off to the destination is refused where the source cannot enforce the fence (issue 21: below
// Kubernetes 1.30 hand-offs went on unfenced), before any write is held; a move back to the source
// needs no fence and still runs.
import { describe, expect, it } from '@jest/globals';
import { fenceUnenforceable, decideFenceSupport, servesValidatingAdmissionPolicies } from '../../aggregator/handoff/fence-support.js';
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

describe('whether the source serves the policies the fence is made of', () => {
  const answering = (status: number, resources: string[] = []) => ({
    request: async <T>() => ({ status, body: { resources: resources.map((name) => ({ name })) } as T }),
  });

  it('is read from discovery: served, or not (404, or the group version without the resource)', async () => {
    await expect(servesValidatingAdmissionPolicies(answering(200, ['validatingadmissionpolicies']))).resolves.toBe(true);
    await expect(servesValidatingAdmissionPolicies(answering(200, ['validatingwebhookconfigurations']))).resolves.toBe(false);
    await expect(servesValidatingAdmissionPolicies(answering(404))).resolves.toBe(false);
  });

  // Taken for "not served", a 503 refused every move to the destination for a minute and recorded the fence as unenforceable.
  it('is unknown when discovery fails otherwise: an API error, not "cannot fence"', async () => {
    await expect(servesValidatingAdmissionPolicies(answering(503))).rejects.toMatchObject({ code: 'BRIDGE_ERR_KUBE_API', apiStatus: 503 });
  });
});
