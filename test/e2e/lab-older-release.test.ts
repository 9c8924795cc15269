/**
 * The lab on a Kubernetes release without native sidecars (1.28: SidecarContainers is alpha and off),
 * built with `--k8s-version`: the webhook detects the version and injects the ordinary-container style
 * with its postStart hold, the API server accepts the pod, and the workload path still works.
 * Uses a private lab folder; global setup builds (or finds cached) the release's binaries before any test runs.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRE_NATIVE_SIDECAR_VERSION } from '../../lab/versions.js';
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
});
