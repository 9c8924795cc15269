/** The OCI spec lab/images/run-image.ts gives runc: what a kubelet's runtime would set, within this process's limits. */
import { describe, expect, it } from '@jest/globals';
import { currentNofile, ociSpec } from '../../lab/images/run-image.js';
import type { ImageConfig } from '../../lab/images/buildah.js';

const config: ImageConfig = {
  id: 'abc',
  entrypoint: ['node', '--single-threaded', 'dist/sidecar.mjs'],
  cmd: [],
  env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=production'],
  workingDir: '/app',
  user: '65532:65532',
};

interface Spec {
  process: { user: { uid: number; gid: number }; args: string[]; env: string[]; cwd: string; rlimits: Array<{ type: string; soft: number; hard: number }> };
  root: { path: string; readonly: boolean };
  mounts: Array<{ destination: string; type: string; source: string; options?: string[] }>;
  linux: { namespaces: Array<{ type: string }> };
}

describe('ociSpec', () => {
  const spec = ociSpec(config, '/rootfs', {
    image: 'cluster-bridge/sidecar:0.1.0',
    id: 't',
    workDir: '/tmp/x',
    cmd: ['--help'],
    env: { BRIDGE_OPS_PORT: '1234' },
    mounts: [{ source: '/host/tls', destination: '/var/run/cluster-bridge/tls' }],
  }) as Spec & { process: { capabilities: Record<string, string[]>; noNewPrivileges: boolean } };

  it('sets no rlimit above the current ones (root here cannot raise them)', () => {
    const nofile = currentNofile();
    expect(spec.process.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', soft: nofile.soft, hard: nofile.hard }]);
    expect(nofile.soft).toBeLessThanOrEqual(nofile.hard);
  });

  it('runs the image entrypoint with the replaced CMD, its env plus ours, its user and directory', () => {
    expect(spec.process.args).toEqual(['node', '--single-threaded', 'dist/sidecar.mjs', '--help']);
    expect(spec.process.env).toEqual([...config.env, 'BRIDGE_OPS_PORT=1234']);
    expect(spec.process.user).toEqual({ uid: 65532, gid: 65532 });
    expect(spec.process.cwd).toBe('/app');
  });

  it('drops every capability, forbids new privileges and mounts the root and Secrets read-only', () => {
    expect(Object.values(spec.process.capabilities).flat()).toEqual([]);
    expect(spec.process.noNewPrivileges).toBe(true);
    expect(spec.root).toEqual({ path: '/rootfs', readonly: true });
    const tls = spec.mounts.find((m) => m.destination === '/var/run/cluster-bridge/tls');
    expect(tls).toEqual({
      destination: '/var/run/cluster-bridge/tls',
      type: 'bind',
      source: '/host/tls',
      options: ['rbind', 'nosuid', 'nodev', 'noexec', 'ro'],
    });
    expect(spec.linux.namespaces.map((n) => n.type)).toEqual(['pid', 'ipc', 'uts', 'mount']);
  });

  it('refuses a user name the runtime cannot map without /etc/passwd lookups', () => {
    expect(() => ociSpec({ ...config, user: 'node' }, '/rootfs', { image: 'i', id: 't', workDir: '/tmp/x' })).toThrow(/not numeric/);
  });
});
