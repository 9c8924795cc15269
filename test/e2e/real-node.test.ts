// A real node in the lab (`lab up --real-node`, lab/node/): on each cluster the kubelet built from the
// control plane's module registers a Ready node on containerd; a pod from the lab's local image runs and
// reaches the API server in-cluster (ServiceAccount token and CA, kubernetes.default.svc through the
// lab's DNS stand-in and Service route); its logs and exec go through the API server to the kubelet;
// a Service's name and ClusterIP reach the pod behind it;
// `lab down` leaves no process, mount, cgroup, bridge or iptables chain behind. A lab of its own.
import { stopPrivateLab } from '../helpers/private-lab-real-node.js';
import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNamespace, kubectl, kubectlOk, run } from '../helpers/lab-clients.js';
import { readLabState } from '../../lab/lab-files.js';
import { cgroupHierarchies, mountsUnder, shimPids } from '../../lab/node/host-cleanup.js';
import { TEST_IMAGE } from '../../lab/node/images.js';
import { REAL_NODE_NAME } from '../../lab/node/kubelet-config.js';
import type { RealNodeState } from '../../lab/node/real-node.js';
import { waitUntil } from '../../lib/wait-until.js';

const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');
const state = readLabState();
const clusters = ['source', 'destination'] as const;

afterAll(() => stopPrivateLab(), 120_000);

function realNodeOf(cluster: (typeof clusters)[number]): RealNodeState {
  const node = state?.clusters[cluster].realNode;
  if (!node) throw new Error(`the private lab has no real node for ${cluster}: \`lab up --real-node\` did not record one in state.json`);
  return node;
}

function podManifest(namespace: string, name: string, command: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: {
      nodeName: REAL_NODE_NAME,
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'tools', image: TEST_IMAGE, imagePullPolicy: 'Never', command: ['/bin/sh', '-c', command] }],
    },
  });
}

/** An HTTP GET with busybox nc (Debian's static busybox wget segfaults), resolving `host` through the pod's DNS. */
function httpGet(host: string): string {
  return `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} 80`;
}

async function runningPod(cluster: string, namespace: string, name: string): Promise<number> {
  const started = Date.now();
  await waitUntil(
    `pod ${namespace}/${name} Running on ${REAL_NODE_NAME}`,
    async () => {
      const phase = await kubectlOk(cluster, ['-n', namespace, 'get', 'pod', name, '-o', 'jsonpath={.status.phase}']);
      if (phase === 'Failed' || phase === 'Succeeded') throw Object.assign(new Error(`pod ended: ${phase}`), { matcherResult: {} });
      return phase === 'Running';
    },
    { timeoutMs: 90_000, intervalMs: 200 },
  );
  return (Date.now() - started) / 1000;
}

describe('a real node per lab cluster', () => {
  it.each(clusters)('%s: the kubelet of the control plane release registers a Ready node on containerd', async (cluster) => {
    const node = JSON.parse(await kubectlOk(cluster, ['get', 'node', REAL_NODE_NAME, '-o', 'json'])) as {
      status: { conditions: { type: string; status: string }[]; nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string } };
    };
    expect(node.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(node.status.nodeInfo.kubeletVersion).toBe(state?.kubernetesVersion);
    expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\//);
    process.stderr.write(`[real-node] ${cluster} node Ready ${realNodeOf(cluster).readySeconds.toFixed(1)} s after containerd started\n`);
  });

  it.each(clusters)('%s: a pod runs, reaches the API in-cluster, and its logs and exec go through the API server', async (cluster) => {
    const namespace = await createNamespace(cluster, 'real-node');
    await kubectlOk(cluster, ['apply', '-f', '-'], podManifest(namespace, 'check', 'incluster-check; echo check-exit=$?; sleep 3600'));
    const seconds = await runningPod(cluster, namespace, 'check');
    process.stderr.write(`[real-node] ${cluster} pod Running ${seconds.toFixed(1)} s after create\n`);

    // Logs: the CRI log file the kubelet serves, through the API server.
    const logs = await waitUntil('the check program to finish', async () => {
      const out = await kubectlOk(cluster, ['-n', namespace, 'logs', 'check']);
      return out.includes('check-exit=') ? out : undefined;
    });
    expect(logs).toContain('dns kubernetes.default.svc=[10.96.0.1]');
    expect(logs).toContain(`api ok user=system:serviceaccount:${namespace}:default namespace=${namespace}`);
    expect(logs).toContain('check-exit=0');

    // Exec: stdin in, stdout and the exit code out, in the container's own network namespace.
    const podIp = await kubectlOk(cluster, ['-n', namespace, 'get', 'pod', 'check', '-o', 'jsonpath={.status.podIP}']);
    expect(podIp.startsWith(realNodeOf(cluster).podSubnet.gateway.replace(/\.1$/, '.'))).toBe(true);
    const exec = await kubectl(cluster, ['-n', namespace, 'exec', '-i', 'check', '--', 'sh', '-c', 'cat; ip -4 addr show eth0; exit 7'], 'from-stdin\n');
    expect(exec.stdout).toContain('from-stdin');
    expect(exec.stdout).toContain(`inet ${podIp}/24`);
    expect(exec.code).toBe(7);
  });

  it('source: a Service name resolves and its ClusterIP reaches the pod behind it, from another pod and from that pod itself', async () => {
    const namespace = await createNamespace('source', 'real-node-svc');
    const web = JSON.parse(podManifest(namespace, 'web', 'mkdir -p /www && echo served-by-$(hostname) > /www/index.html && exec httpd -f -p 8080 -h /www')) as {
      metadata: { labels?: Record<string, string> };
    };
    web.metadata.labels = { app: 'web' };
    const service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace },
      spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
    };
    await kubectlOk('source', ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [web, service] }));
    await kubectlOk('source', ['apply', '-f', '-'], podManifest(namespace, 'client', 'sleep 3600'));
    await runningPod('source', namespace, 'web');
    await runningPod('source', namespace, 'client');
    // The endpoint appears in an EndpointSlice, then node-services routes it (it polls once a second).
    const fetched = await waitUntil(
      'the web Service to answer from the client pod',
      async () => {
        const r = await kubectl('source', ['-n', namespace, 'exec', 'client', '--', 'sh', '-c', httpGet('web')]);
        return r.code === 0 && r.stdout.includes('200 OK') ? r.stdout : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(fetched.trim().split('\n').at(-1)).toBe('served-by-web');
    // Hairpin: the pod behind the Service calls its own Service (masqueraded to the bridge, so the reply returns).
    const self = await kubectlOk('source', ['-n', namespace, 'exec', 'web', '--', 'sh', '-c', httpGet(`web.${namespace}.svc.cluster.local`)]);
    expect(self.trim().split('\n').at(-1)).toBe('served-by-web');
  });

  it('lab down leaves no process, mount, cgroup, bridge or iptables chain of the nodes', async () => {
    const nodes = clusters.map(realNodeOf);
    const down = await run(process.execPath, [CLI, 'lab', 'down']);
    expect(down.code).toBe(0);
    const links = (await run('ip', ['-o', 'link', 'show'])).stdout;
    const nat = (await run('iptables', ['-w', '-t', 'nat', '-S'])).stdout;
    for (const node of nodes) {
      for (const daemon of node.daemons)
        expect(existsSync(`/proc/${daemon.pid}`) && readFileSync(`/proc/${daemon.pid}/cmdline`, 'utf8').startsWith(daemon.binary)).toBe(false);
      expect(shimPids(node.containerdSocket)).toEqual([]);
      expect(mountsUnder(node.dir)).toEqual([]);
      expect(cgroupHierarchies(true).filter((h) => existsSync(join(h, node.names.cgroupRoot)))).toEqual([]);
      expect(links).not.toContain(`${node.names.bridge}:`);
      expect(nat).not.toContain(node.names.chain);
    }
  });
});
