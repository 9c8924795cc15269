import { describe, expect, it } from '@jest/globals';
import { etcdVersionFromGoMod, kubernetesBuildModule, timedStep } from '../../lab/build.js';
import { waitUntil } from '../../lib/wait-until.js';
import { firstServiceIp } from '../../lab/cluster-pki.js';

const upstream = `module k8s.io/kubernetes

go 1.26.0

require (
	go.etcd.io/etcd/server/v3 v3.6.8 // indirect
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
	k8s.io/kube-aggregator => ./staging/src/k8s.io/kube-aggregator
)
`;

describe('lab build module', () => {
  it('maps every staging module to its published v0.Y.Z and keeps the go directive', () => {
    const mod = kubernetesBuildModule('v1.36.3', upstream);
    expect(mod).toContain('require k8s.io/kubernetes v1.36.3');
    expect(mod).toContain('go 1.26.0');
    expect(mod).toContain('\tk8s.io/api => k8s.io/api v0.36.3');
    expect(mod).toContain('\tk8s.io/client-go => k8s.io/client-go v0.36.3');
    expect(mod).toContain('\tk8s.io/kube-aggregator => k8s.io/kube-aggregator v0.36.3');
    expect(mod).not.toContain('./staging');
  });

  it('rejects versions that are not releases', () => {
    expect(() => kubernetesBuildModule('1.36', upstream)).toThrow(expect.objectContaining({ code: 'BRIDGE_ERR_CONFIG' }));
    expect(() => kubernetesBuildModule('v1.36.3-rc.0', upstream)).toThrow(expect.objectContaining({ code: 'BRIDGE_ERR_CONFIG' }));
  });

  it('reads the etcd version Kubernetes pins', () => {
    expect(etcdVersionFromGoMod(upstream)).toBe('v3.6.8');
    expect(() => etcdVersionFromGoMod('module x')).toThrow(expect.objectContaining({ code: 'BRIDGE_ERR_LAB_BUILD_FAILED' }));
  });

  it('derives the kubernetes Service IP from the service CIDR', () => {
    expect(firstServiceIp('10.96.0.0/16')).toBe('10.96.0.1');
    expect(firstServiceIp('172.20.0.0/12')).toBe('172.20.0.1');
  });

  it('says what a long build step is doing when each phase starts and while it runs, then how long it took', async () => {
    const lines: string[] = [];
    let finish!: () => void;
    const step = timedStep(
      (line) => lines.push(line),
      'Kubernetes v1.36.3',
      async (phase) => {
        phase('compiling kube-apiserver');
        await new Promise<void>((resolve) => (finish = resolve));
      },
      5,
    );
    await waitUntil('two heartbeats', () => lines.filter((l) => l.includes('still compiling kube-apiserver')).length >= 2, { intervalMs: 1 });
    finish();
    await step;
    expect(lines[0]).toBe('  Kubernetes v1.36.3: compiling kube-apiserver');
    expect(lines[1]).toMatch(/^ {2}Kubernetes v1\.36\.3: still compiling kube-apiserver \(\d+ s so far\)$/);
    expect(lines.at(-1)).toMatch(/^ {2}Kubernetes v1\.36\.3: done in \d+ s$/);
    const count = lines.length;
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(lines).toHaveLength(count); // no heartbeat after the step ended
  });
});
