/**
 * The lab on a Kubernetes release without native sidecars (1.28: SidecarContainers is alpha and off),
 * built with `--k8s-version`: the webhook detects the version and injects the ordinary-container style
 * with its postStart hold, the API server accepts the pod, and the workload path still works.
 * Uses a private lab folder; global setup builds (or finds cached) the release's binaries before any test runs.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRE_NATIVE_SIDECAR_VERSION } from '../../lab/versions.js';
import { waitUntil } from '../../lib/wait-until.js';
import { run } from '../helpers/lab-clients.js';

const OLDER_RELEASE = PRE_NATIVE_SIDECAR_VERSION;
const privateLab = mkdtempSync(join(tmpdir(), 'bridge-lab-128-'));
const env = { ...process.env, BRIDGE_LAB_DIR: privateLab };
const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');
const bridgectl = (args: string[]) => run(process.execPath, [CLI, ...args], { env });
const kubectl = (kubeconfig: string, args: string[]) => run('kubectl', ['--kubeconfig', join(privateLab, kubeconfig), ...args]);

afterAll(async () => {
  await bridgectl(['lab', 'down', '--purge']);
  rmSync(privateLab, { recursive: true, force: true });
}, 60_000);

describe(`lab on ${OLDER_RELEASE} (no native sidecars)`, () => {
  it(
    'builds and starts the older release, and the webhook injects an ordinary first container that the API server accepts',
    async () => {
      const up = await bridgectl(['lab', 'up', '--k8s-version', OLDER_RELEASE]);
      expect(up.stderr).not.toContain('error:');
      expect(up.code).toBe(0);
      const version = await kubectl('source.kubeconfig', ['get', '--raw', '/version']);
      expect((JSON.parse(version.stdout) as { gitVersion: string }).gitVersion).toBe(OLDER_RELEASE);

      const install = await bridgectl(['lab', 'install']);
      expect(install.code).toBe(0);
      const created = await kubectl('source.kubeconfig', ['-n', 'lab-apps', 'run', 'legacy', '--image=registry.invalid/app:1', '--restart=Never']);
      expect(created.stderr).toBe('');
      expect(created.code).toBe(0);

      const first = JSON.parse((await kubectl('source.kubeconfig', ['-n', 'lab-apps', 'get', 'pod', 'legacy', '-o', 'json'])).stdout) as {
        metadata: { annotations: Record<string, string> };
        spec: { containers: { name: string; lifecycle?: { postStart?: unknown }; env?: { name: string; value?: string }[] }[]; initContainers?: unknown[] };
      };
      expect(first.spec.containers.map((c) => c.name)).toEqual(['cluster-bridge-proxy', 'legacy']);
      expect(first.spec.containers[0]!.lifecycle?.postStart).toBeDefined();
      expect(first.spec.initContainers ?? []).toEqual([]);
      expect(first.spec.containers[1]!.env?.find((e) => e.name === 'KUBERNETES_SERVICE_HOST')?.value).toBe('127.0.0.1');
      expect(JSON.parse(first.metadata.annotations['cluster-bridge.io/status']!)).toMatchObject({ sidecarStyle: 'container' });

      const whoami = await kubectl('workload.kubeconfig', ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
      expect(whoami.stdout).toBe('system:serviceaccount:lab-apps:default');
    },
    30 * 60_000,
  );

  // Issue 21: below 1.30 there is no fence (no v1 ValidatingAdmissionPolicy), and hand-offs went on
  // unfenced. Now none to the destination starts, and the status commands say why.
  it(
    'refuses to move a shard to the destination where the source cannot enforce the fence, and says why in the status',
    async () => {
      const destination = ['--kubeconfig', join(privateLab, 'destination.kubeconfig')];
      const table = async () =>
        JSON.parse((await bridgectl(['aggregator', 'status', '--output', 'json', ...destination])).stdout) as {
          generation: number;
          shards: Record<string, { owner: string; handoff?: unknown }>;
        };
      const before = await table();
      const move = await bridgectl(['aggregator', 'move', '--shard', 'configmaps', '--to', 'destination', '--timeout-seconds', '20', ...destination]);
      expect(move.code).not.toBe(0);
      expect(move.stderr).toContain('BRIDGE_ERR_FENCE_UNENFORCEABLE');
      expect(move.stderr).toContain(`Kubernetes ${OLDER_RELEASE}`);
      // Refused before anything was written: the routing table is as it was.
      expect(await table()).toEqual(before);
      const status = await bridgectl(['aggregator', 'status', ...destination]);
      expect(status.stdout).toContain('fence: NOT ENFORCEABLE');
      const planned = await bridgectl(['rollout', 'plan', '--stages', '100', '--soak-seconds', '1', '--shards', 'configmaps']);
      expect(planned.code).toBe(0);
      const rollout = await bridgectl(['status']);
      expect(rollout.stdout).toContain(
        `fence: NOT ENFORCEABLE, no shard moves to the destination (BRIDGE_ERR_FENCE_UNENFORCEABLE): the source runs Kubernetes ${OLDER_RELEASE}`,
      );
      // The rollout's controller asks the aggregator for the move, which refuses it before holding anything.
      const installed = JSON.parse(readFileSync(join(privateLab, 'install', 'state.json'), 'utf8')) as { name: string; logFile: string }[];
      const aggregatorLog = installed.find((d) => d.name === 'aggregator')!.logFile;
      const refusal = await waitUntil(
        "the aggregator to refuse the rollout's move of configmaps",
        () =>
          readFileSync(aggregatorLog, 'utf8')
            .split('\n')
            .find((line) => line.includes('desired owner refused before holding anything') && line.includes('"shard":"configmaps"')),
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      expect(refusal).toContain('BRIDGE_ERR_FENCE_UNENFORCEABLE');
      const after = await table();
      expect([after.shards.configmaps?.owner ?? 'source', after.shards.configmaps?.handoff]).toEqual(['source', undefined]);
      // Nothing is held: a workload's ConfigMap write through the sidecar and the aggregator is answered at once.
      const write = await kubectl('workload.kubeconfig', ['create', 'configmap', 'written-while-refused', '--request-timeout=10s']);
      expect([write.code, write.stderr]).toEqual([0, '']);
    },
    5 * 60_000,
  );
});
