/** The README's main command, end to end, on a private lab: `bridgectl demo`, then `lab down` leaves nothing. */
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isProcessRunning, run } from '../helpers/lab-clients.js';
import { REAL_NODE_NAME } from '../../lab/node/kubelet-config.js';

const privateLab = mkdtempSync(join(tmpdir(), 'bridge-demo-'));
const env = { ...process.env, BRIDGE_LAB_DIR: privateLab };
const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');

afterAll(async () => {
  await run(process.execPath, [CLI, 'lab', 'down', '--purge'], { env });
  rmSync(privateLab, { recursive: true, force: true });
});

describe('bridgectl demo', () => {
  it('starts the lab, installs the bridge, passes every check, migrates in stages losing nothing, and lab down stops all of it', async () => {
    const demo = await run(process.execPath, [CLI, 'demo'], { env });
    // The fast default: kwok's node only, and the time it took.
    expect(demo.stderr).toMatch(/== demo passed in \d+ s; /);
    expect(demo.stderr).toMatch(/ok\s+source: a pod is scheduled and reaches Running \(kwok node\)/);
    expect(demo.stderr).not.toContain('FAIL');
    expect(demo.stderr).toMatch(/ok\s+webhook: a pod created in lab-apps gets the native sidecar/);
    expect(demo.stderr).toMatch(/ok\s+workload .* as system:serviceaccount:lab-apps:default/);
    // The staged migration reached every shard and came back, with no client error and no lost write.
    // Namespace shards (issue 24): the 1% canary moves one namespace, each stage a growing set.
    expect(demo.stderr).toMatch(/1% reached\s+moved demo-support \(1\/24 in the destination\)/);
    expect(demo.stderr).toMatch(/5% reached\s+moved demo-coupons, demo-gateway \(3\/24 in the destination\)/);
    expect(demo.stderr).toMatch(/F=100%\s+\[#+\] 24\/24 namespaces in the destination/);
    expect(demo.stderr).toMatch(/rolled back\s+\[\.+\] 0\/24 namespaces in the destination/);
    expect(demo.stderr).toMatch(/unmarked at the end: 0\n/);
    expect(demo.stderr).toMatch(/rollout: RolledBack; time per stage: 0% [\d.]+ s.*, 1% [\d.]+ s .*100% [\d.]+ s/);
    expect(demo.stderr).toMatch(/shadow reads before each move: [1-9]\d* compared, 0 divergent/);
    expect(demo.stderr).toMatch(/errors a single cluster would not give: 0\n/);
    expect(demo.stderr).toMatch(/acknowledged writes: [1-9]\d*; .* lost writes: 0\n/);
    expect(demo.code).toBe(0);

    const installed = JSON.parse(readFileSync(join(privateLab, 'install', 'state.json'), 'utf8')) as { name: string; pid: number }[];
    expect(installed.map((d) => d.name).sort()).toEqual(['aggregator', 'sidecar', 'synchronizer', 'webhook']);
    const lab = JSON.parse(readFileSync(join(privateLab, 'state.json'), 'utf8')) as {
      clusters: Record<string, { daemons: { pid: number }[]; realNode?: object }>;
    };
    expect(Object.values(lab.clusters).map((c) => c.realNode)).toEqual([undefined, undefined]);
    const pids = [...installed.map((d) => d.pid), ...Object.values(lab.clusters).flatMap((c) => c.daemons.map((d) => d.pid))];
    expect(pids.filter(isProcessRunning)).toHaveLength(14);

    // The same lab again with --fault: the destination fails at 25% and the controller rolls back by itself.
    const faulty = await run(process.execPath, [CLI, 'demo', '--fault'], { env });
    expect(faulty.stderr).toContain('FAULT: the destination now fails');
    expect(faulty.stderr).toMatch(/BREACH at (25|50|100)%.*destination error rate/);
    expect(faulty.stderr).toMatch(/the controller detected it [\d.]+ s after the fault; phase RolledBack/);
    expect(faulty.stderr).toMatch(/errors a single cluster would not give: 0\n/);
    expect(faulty.stderr).toMatch(/lost writes: 0\n/);
    expect(faulty.code).toBe(0);
    const reinstalled = JSON.parse(readFileSync(join(privateLab, 'install', 'state.json'), 'utf8')) as { pid: number }[];
    pids.push(...reinstalled.map((d) => d.pid));

    const down = await run(process.execPath, [CLI, 'lab', 'down'], { env });
    expect(down.code).toBe(0);
    expect(down.stderr).toContain('stopped 14 processes');
    expect(pids.filter(isProcessRunning)).toEqual([]);
  }, 360_000);

  it('--real-nodes: the same demo with a real kubelet node per cluster, its pod checks run there, and its time reported', async () => {
    // --replace: whatever the first test left of its lab (kwok only) is replaced, never reused.
    const demo = await run(process.execPath, [CLI, 'demo', '--real-nodes', '--replace'], { env });
    try {
      expect(demo.stderr).not.toContain('FAIL');
      for (const cluster of ['source', 'destination']) {
        expect(demo.stderr).toMatch(
          new RegExp(
            `ok\\s+${cluster}: a pod is scheduled and reaches Running \\(real node.*\\): on ${REAL_NODE_NAME}: api ok user=system:serviceaccount:demo-`,
          ),
        );
      }
      expect(demo.stderr).toMatch(/rollout: RolledBack; time per stage/);
      expect(demo.stderr).toMatch(/errors a single cluster would not give: 0\n/);
      expect(demo.stderr).toMatch(/== demo passed in \d+ s on real nodes; /);
      process.stderr.write(`[demo] ${/== demo passed in \d+ s on real nodes/.exec(demo.stderr)?.[0]}\n`);
      expect(demo.code).toBe(0);
    } finally {
      expect((await run(process.execPath, [CLI, 'lab', 'down'], { env })).code).toBe(0);
    }
  }, 600_000);
});
