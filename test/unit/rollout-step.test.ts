// The rollout controller's decisions, one step at a time (aggregator/rollout/rollout-step.ts). The
// lab test (test/e2e/rollout.test.ts) runs the same controller against real API servers.
import { describe, expect, it } from '@jest/globals';
import { GateWindow, judge } from '../../aggregator/rollout/gate-window.js';
import { rolloutStep, shardsAboutToMove, type StepOutput } from '../../aggregator/rollout/rollout-step.js';
import { DEFAULT_GATES, type BridgeRollout, type GateEvaluation, type RolloutSpec } from '../../aggregator/rollout/rollout-types.js';
import { beginHandoff, completeHandoff, emptyRoutingTable } from '../../lib/routing/routing-table.js';
import type { ClusterSide, RoutingTable } from '../../lib/routing/types.js';

// Fixed positions (lib/routing/shard-hash.ts): secrets 0.129, configmaps 0.626.
const SHARDS = ['configmaps', 'secrets'];
const T0 = Date.parse('2026-11-22T12:00:00Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);

function rollout(spec: Partial<RolloutSpec> = {}, status?: BridgeRollout['status']): BridgeRollout {
  return {
    apiVersion: 'cluster-bridge.io/v1alpha1',
    kind: 'BridgeRollout',
    metadata: { name: 'r', namespace: 'cluster-bridge-system', generation: 1 },
    spec: {
      stages: [
        { name: 'canary', fraction: 0.2 },
        { name: 'all', fraction: 1 },
      ],
      soakSeconds: 10,
      ...spec,
    },
    status,
  };
}

function tableWith(owners: Record<string, ClusterSide>): RoutingTable {
  let table = emptyRoutingTable();
  for (const [shard, owner] of Object.entries(owners)) {
    if (owner === 'destination') table = completeHandoff(beginHandoff(table, shard, 'destination', at(0)), shard, '100', at(0));
  }
  return table;
}

const healthy: GateEvaluation = {
  windowSeconds: 10,
  source: { requests: 100, errors: 0, errorRate: 0, p99Ms: 5 },
  destination: { requests: 100, errors: 0, errorRate: 0, p99Ms: 5 },
};
const failing: GateEvaluation = { ...healthy, destination: { requests: 100, errors: 40, errorRate: 0.4, p99Ms: 5 }, breach: 'destination error rate 40%' };

/** Runs steps, feeding each output's status into the next rollout, with the owners already reached when `reached`. */
function run(r: BridgeRollout, seconds: number, options: { gate?: GateEvaluation; reached?: boolean } = {}): [BridgeRollout, StepOutput] {
  const owners = Object.fromEntries(SHARDS.map((s) => [s, 'source' as ClusterSide]));
  const first = rolloutStep({ rollout: r, shards: SHARDS, table: tableWith(owners), gate: options.gate, now: at(seconds) });
  const table = options.reached === false ? tableWith(owners) : tableWith(first.desiredOwners);
  const out = rolloutStep({ rollout: r, shards: SHARDS, table, gate: options.gate, now: at(seconds) });
  return [{ ...r, status: out.status }, out];
}

describe('rolloutStep', () => {
  it('walks the stages: start, reach, soak, next, complete', () => {
    let [r, out] = run(rollout(), 0, { reached: false });
    expect(out.status).toMatchObject({ phase: 'Progressing', stage: 0, stageName: 'canary', fraction: 0.2 });
    expect(out.desiredOwners).toEqual({ configmaps: 'source', secrets: 'destination' });
    expect(out.events.map((e) => e.reason)).toEqual(['StageStarted']);

    [r, out] = run(r, 3, { gate: healthy });
    expect(out.status.stageReachedAt).toBe(at(3).toISOString());
    expect(out.status.history.find((h) => h.event === 'stage-reached')).toMatchObject({ stage: 'canary', seconds: 3 });

    [r, out] = run(r, 12, { gate: healthy });
    expect(out.status.stage).toBe(0); // 9 s of a 10 s soak
    [r, out] = run(r, 13, { gate: healthy });
    expect(out.status).toMatchObject({ stage: 1, stageName: 'all', phase: 'Progressing' });
    expect(out.desiredOwners).toEqual({ configmaps: 'destination', secrets: 'destination' });

    [r, out] = run(r, 14, { gate: healthy });
    [r, out] = run(r, 30, { gate: healthy });
    expect(out.status.phase).toBe('Complete');
    expect(out.status.conditions.find((c) => c.type === 'Complete')).toMatchObject({ status: 'True', reason: 'Complete' });
    expect(out.status.conditions.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'False' });
    expect(out.status.shards).toEqual([
      expect.objectContaining({ shard: 'configmaps', owner: 'destination', desiredOwner: 'destination', epoch: 1 }),
      expect.objectContaining({ shard: 'secrets', owner: 'destination', desiredOwner: 'destination', epoch: 1 }),
    ]);
  });

  it('does not soak or judge a stage before every shard has its owner', () => {
    const [r] = run(rollout(), 0, { reached: false });
    const [, out] = run(r, 100, { gate: failing, reached: false });
    expect(out.status).toMatchObject({ phase: 'Progressing', stage: 0 });
    expect(out.status.stageReachedAt).toBeUndefined();
    expect(out.events).toEqual([]);
  });

  it('rolls every shard back on a breach, says why, and ends RolledBack once the source serves them', () => {
    let [r] = run(rollout(), 0);
    let out: StepOutput;
    [r, out] = run(r, 1, { gate: failing });
    expect(out.status.phase).toBe('RollingBack');
    expect(out.desiredOwners).toEqual({ configmaps: 'source', secrets: 'source' });
    expect(out.events.map((e) => [e.type, e.reason])).toEqual([
      ['Warning', 'GateBreached'],
      ['Warning', 'RollingBack'],
    ]);
    const degraded = out.status.conditions.find((c) => c.type === 'Degraded');
    expect(degraded).toMatchObject({ status: 'True', reason: 'GateBreached' });
    expect(degraded!.message).toContain('destination error rate 40%');
    [r, out] = run(r, 2);
    expect(out.status.phase).toBe('RolledBack');
    expect(out.status.conditions.find((c) => c.type === 'RolledBack')).toMatchObject({ status: 'True' });
    expect(out.status.message).toContain('destination error rate 40%');
  });

  it('pauses instead when the plan says so', () => {
    let [r] = run(rollout({ onBreach: 'Pause' }), 0);
    let out: StepOutput;
    [r, out] = run(r, 1, { gate: failing });
    expect(out.status.phase).toBe('Paused');
    expect(out.desiredOwners).toEqual({ configmaps: 'source', secrets: 'destination' });
    [r, out] = run(r, 60, { gate: healthy });
    expect(out.status).toMatchObject({ phase: 'Paused', stage: 0 });
  });

  it('acts on each manual command once, records it, and refuses what makes no sense', () => {
    let [r] = run(rollout(), 0);
    let out: StepOutput;
    const command = (name: NonNullable<RolloutSpec['command']>['name'], id: string) => ({ ...r, spec: { ...r.spec, command: { name, id, by: 'ops' } } });

    [r, out] = run(command('finalize', 'c1'), 1, { gate: healthy });
    expect(out.status.history.some((h) => h.event === 'command-refused' && h.reason?.includes('finalize needs a Complete rollout'))).toBe(true);
    expect(out.events[0]).toMatchObject({ type: 'Warning', reason: 'CommandRefused' });

    [r, out] = run(command('advance', 'c2'), 2, { gate: healthy });
    expect(out.status).toMatchObject({ stage: 1, lastCommandId: 'c2' });
    expect(out.status.history.some((h) => h.event === 'command-advance' && h.reason === 'manual advance by ops')).toBe(true);
    [r, out] = run(r, 3, { gate: healthy }); // the same id again: no second advance
    expect(out.status.stage).toBe(1);

    [r, out] = run(command('pause', 'c3'), 4, { gate: healthy });
    expect(out.status.phase).toBe('Paused');
    [r, out] = run(command('rollback', 'c4'), 5, { gate: healthy });
    expect(out.status.phase).toBe('RolledBack');
    expect(out.desiredOwners).toEqual({ configmaps: 'source', secrets: 'source' });
    [r, out] = run(command('resume', 'c5'), 6, { gate: healthy });
    expect(out.status).toMatchObject({ phase: 'Progressing', stage: 0 });
  });

  it('names the shards the next stage moves while the source still serves them, and none once paused or at the last stage', () => {
    const r = rollout(); // canary F=0.2 moves secrets (0.129); all moves configmaps (0.626) too
    const [atCanary] = run(r, 0);
    const table = tableWith({ secrets: 'destination', configmaps: 'source' });
    expect(shardsAboutToMove(r, SHARDS, atCanary.status as never, table)).toEqual(['configmaps']);
    expect(shardsAboutToMove(r, SHARDS, { ...atCanary.status, phase: 'Paused' } as never, table)).toEqual([]);
    expect(shardsAboutToMove(r, SHARDS, { ...atCanary.status, stage: 1 } as never, table)).toEqual([]);
    // Before the first stage's shards moved, the next stage's are those that still have to.
    expect(shardsAboutToMove(r, SHARDS, atCanary.status as never, tableWith({ secrets: 'source', configmaps: 'source' }))).toEqual(['configmaps', 'secrets']);
  });

  it('finalizes a complete rollout and then refuses a rollback', () => {
    let [r] = run(rollout({ stages: [{ name: 'all', fraction: 1 }], soakSeconds: 0 }), 0);
    let out: StepOutput;
    [r, out] = run(r, 1, { gate: healthy });
    expect(out.status.phase).toBe('Complete');
    [r, out] = run({ ...r, spec: { ...r.spec, command: { name: 'finalize', id: 'f' } } }, 2, { gate: healthy });
    expect(out.status.finalizedAt).toBe(at(2).toISOString());
    expect(out.status.conditions.find((c) => c.type === 'Complete')!.reason).toBe('Finalized');
    [r, out] = run({ ...r, spec: { ...r.spec, command: { name: 'rollback', id: 'g' } } }, 3, { gate: failing });
    expect(out.status.phase).toBe('Complete');
    expect(out.status.history.at(-1)).toMatchObject({ event: 'command-refused' });
  });
});

describe('gate verdicts', () => {
  const window = (requests: number, errors: number, listP99 = 5, lists = requests) => ({
    requests,
    errors,
    errorRate: requests ? errors / requests : 0,
    p99Ms: listP99,
    latency: { get: { count: 0, p99Ms: 0 }, list: { count: lists, p99Ms: listP99 }, write: { count: 0, p99Ms: 0 } },
  });

  it('judges the destination against the source over the same window', () => {
    expect(judge(DEFAULT_GATES, window(100, 0), window(100, 10)).breach).toContain('10.0%');
    // The source already fails 20%: the destination failing as much is not the destination's fault.
    expect(judge(DEFAULT_GATES, window(100, 20), window(100, 22))).toEqual({});
    expect(judge(DEFAULT_GATES, window(100, 0), window(100, 4))).toEqual({});
  });

  it('does not judge too little traffic, and breaches on latency only far above the same kind of request on the source', () => {
    expect(judge(DEFAULT_GATES, window(100, 0), window(5, 5)).insufficient).toContain('fewer than 20');
    expect(judge(DEFAULT_GATES, window(100, 0, 10), window(100, 0, 500)).breach).toContain('list p99 500 ms');
    expect(judge(DEFAULT_GATES, window(100, 0, 1), window(100, 0, 50))).toEqual({}); // 50x, but only 49 ms
    // The source served too few LISTs to compare with: not judged on latency.
    expect(judge(DEFAULT_GATES, window(100, 0, 10, 3), window(100, 0, 500))).toEqual({});
    // 30 LISTs a side: their p99 is the slowest one, too noisy to roll back on.
    expect(judge(DEFAULT_GATES, window(100, 0, 10, 30), window(100, 0, 500, 30))).toEqual({});
  });

  it('judges shadow reads on their own, before the destination serves anything', () => {
    const idle = window(0, 0);
    expect(judge(DEFAULT_GATES, window(100, 0), idle, { compared: 50, divergent: 2 }).breach).toMatch(
      /^shadow reads diverged: 2 of 50 \(4\.0%\) answers of the destination differ from the source's, more than 1\.0%/,
    );
    expect(judge(DEFAULT_GATES, window(100, 0), idle, { compared: 200, divergent: 1 }).breach).toBeUndefined(); // 0.5%
    expect(judge(DEFAULT_GATES, window(100, 0), idle, { compared: 9, divergent: 9 }).breach).toBeUndefined(); // fewer than minShadowReads
    let now = T0;
    const gates = new GateWindow(() => now);
    for (let i = 0; i < 10; i++) gates.recordShadow(i === 0);
    expect(gates.evaluate(DEFAULT_GATES).shadow).toEqual({ compared: 10, divergent: 1 });
    expect(gates.evaluate(DEFAULT_GATES).breach).toContain('1 of 10 (10.0%)');
    now += 11_000;
    expect(gates.evaluate(DEFAULT_GATES).shadow).toEqual({ compared: 0, divergent: 0 });
  });

  it('counts by second and judges only what was answered since the stage settled', () => {
    let now = T0;
    const gates = new GateWindow(() => now);
    for (let i = 0; i < 30; i++) gates.record('destination', 'create', 500, 0.002); // the hand-off's turbulence
    now += 3000;
    for (let i = 0; i < 30; i++) {
      gates.record('destination', 'list', 200, 0.004);
      gates.record('source', 'list', 200, 0.004);
      gates.record('none', 'create', 503); // held by the bridge itself: neither backend's fault
    }
    const settings = { ...DEFAULT_GATES, windowSeconds: 10 };
    expect(gates.evaluate(settings).breach).toContain('destination error rate 50.0% (30/60)');
    const settled = gates.evaluate(settings, now);
    expect(settled.breach).toBeUndefined();
    expect(settled.destination).toMatchObject({ requests: 30, errors: 0, p99Ms: 5 });
    expect(settled.destination.latency!.list).toEqual({ count: 30, p99Ms: 5 });
    now += 11_000;
    expect(gates.evaluate(settings).destination.requests).toBe(0);
  });
});
