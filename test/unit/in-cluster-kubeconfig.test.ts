// BRIDGE_*_KUBECONFIG=in-cluster: the aggregator and the synchronizer reach a cluster as their pod's
// ServiceAccount. The ServiceAccount files live under a temp dir (lib/kube/kubeconfig-reader.ts's path
// prefix), never the real /var/run; an HTTPS server on loopback stands in for the API server.
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAggregatorConfig } from '../../aggregator/config.js';
import { connectCluster, type ClusterConnection } from '../../lib/kube/cluster-connection.js';
import { IN_CLUSTER, kubeconfigSetting } from '../../lib/process/config.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { generateCa, issueCertificate } from '../../lib/tls/pki.js';
import { loadSyncConfig } from '../../synchronizer/config.js';

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const FIRST_TOKEN = 'first-token-value';
let root: string;
let server: Server;
let seen: (string | undefined)[] = [];
const savedEnv = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'in-cluster-'));
  const ca = await generateCa('test-cluster-ca');
  const serving = await issueCertificate(ca, { commonName: 'kube-apiserver', ipAddresses: ['127.0.0.1'], usage: 'server' });
  mkdirSync(join(root, SA_DIR), { recursive: true });
  writeFileSync(join(root, SA_DIR, 'ca.crt'), ca.certPem);
  writeFileSync(join(root, SA_DIR, 'token'), FIRST_TOKEN);
  writeFileSync(join(root, SA_DIR, 'namespace'), 'cluster-bridge-system');
  writeFileSync(join(root, 'a.kubeconfig'), 'apiVersion: v1\nkind: Config\n');
  server = createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    seen.push(req.headers.authorization);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"kind":"APIVersions"}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  process.env.KUBERNETES_SERVICE_HOST = '127.0.0.1';
  process.env.KUBERNETES_SERVICE_PORT = String((server.address() as AddressInfo).port);
});

afterAll(() => {
  server.close();
  rmSync(root, { recursive: true, force: true });
  for (const [name, value] of [
    ['KUBERNETES_SERVICE_HOST', savedEnv.host],
    ['KUBERNETES_SERVICE_PORT', savedEnv.port],
  ] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

afterEach(() => {
  seen = [];
  writeFileSync(join(root, SA_DIR, 'token'), FIRST_TOKEN);
});

describe('kubeconfig settings', () => {
  it.each([
    ['in-cluster', IN_CLUSTER],
    [' in-cluster ', IN_CLUSTER],
  ])('%j means the pod ServiceAccount', (raw, expected) => {
    expect(kubeconfigSetting({ K: raw }, 'K')).toBe(expected);
  });

  it('takes a file that exists and names the alternative when unset', () => {
    expect(kubeconfigSetting({ K: join(root, 'a.kubeconfig') }, 'K')).toBe(join(root, 'a.kubeconfig'));
    expect(() => kubeconfigSetting({}, 'K')).toThrow(/K is required but empty or unset: a kubeconfig file, or "in-cluster"/);
    expect(() => kubeconfigSetting({ K: join(root, 'missing') }, 'K')).toThrow(/K names a file that does not exist/);
    expect(() => kubeconfigSetting({ K: 'In-Cluster' }, 'K')).toThrow(/does not exist/);
  });

  it('lets the aggregator and the synchronizer use it for either cluster', () => {
    const tlsDir = join(root, 'tls');
    mkdirSync(tlsDir, { recursive: true });
    for (const file of ['tls.crt', 'tls.key', 'ca.crt']) writeFileSync(join(tlsDir, file), '');
    const file = join(root, 'a.kubeconfig');
    const aggregator = loadAggregatorConfig({ BRIDGE_TLS_DIR: tlsDir, BRIDGE_SOURCE_KUBECONFIG: file, BRIDGE_DESTINATION_KUBECONFIG: 'in-cluster' });
    expect(aggregator).toMatchObject({ sourceKubeconfig: file, destinationKubeconfig: IN_CLUSTER });
    const sync = loadSyncConfig({ BRIDGE_TLS_DIR: tlsDir, BRIDGE_SOURCE_KUBECONFIG: 'in-cluster', BRIDGE_DESTINATION_KUBECONFIG: file });
    expect(sync).toMatchObject({ sourceKubeconfig: IN_CLUSTER, destinationKubeconfig: file });
    expect(() => loadAggregatorConfig({ BRIDGE_TLS_DIR: tlsDir, BRIDGE_SOURCE_KUBECONFIG: file })).toThrow(/BRIDGE_DESTINATION_KUBECONFIG is required/);
  });
});

function get(cluster: ClusterConnection): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: cluster.url.hostname, port: cluster.url.port, path: '/api', agent: cluster.asBridge, headers: { ...cluster.bridgeHeaders } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('in-cluster loading', () => {
  it('connects with the ServiceAccount token, trusting the mounted CA', async () => {
    const cluster = await connectCluster('destination', IN_CLUSTER, root);
    try {
      expect(cluster.url.origin).toBe(`https://127.0.0.1:${process.env.KUBERNETES_SERVICE_PORT}`);
      expect(cluster.bridgeHeaders).toEqual({ authorization: `Bearer ${FIRST_TOKEN}` });
      expect(await get(cluster)).toBe(200);
      expect((await cluster.rest.request('GET', '/api')).status).toBe(200);
      expect(seen).toEqual([`Bearer ${FIRST_TOKEN}`, `Bearer ${FIRST_TOKEN}`]);
    } finally {
      cluster.close();
    }
  });

  it('loads the REST client the same way', async () => {
    const client = KubeRestClient.load(IN_CLUSTER, root);
    try {
      expect(client.server).toBe(`https://127.0.0.1:${process.env.KUBERNETES_SERVICE_PORT}`);
      expect((await client.request('GET', '/api')).status).toBe(200);
      expect(seen).toEqual([`Bearer ${FIRST_TOKEN}`]);
    } finally {
      client.close();
    }
  });

  it('follows the token file as kubelet rotates it', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const cluster = await connectCluster('destination', IN_CLUSTER, root);
    try {
      writeFileSync(join(root, SA_DIR, 'token'), 'second-token-value');
      // Two ticks: the reader re-reads the file once it is more than 60 s old.
      await jest.advanceTimersByTimeAsync(121_000);
      expect(cluster.bridgeHeaders).toEqual({ authorization: 'Bearer second-token-value' });
    } finally {
      cluster.close();
      jest.useRealTimers();
    }
  });

  it('refuses, naming the problem, outside a pod or without a token', async () => {
    const port = process.env.KUBERNETES_SERVICE_PORT;
    delete process.env.KUBERNETES_SERVICE_PORT;
    try {
      await expect(connectCluster('destination', IN_CLUSTER, root)).rejects.toMatchObject({
        code: 'BRIDGE_ERR_CONFIG',
        message: expect.stringContaining('KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set'),
      });
    } finally {
      process.env.KUBERNETES_SERVICE_PORT = port;
    }
    expect(() => KubeRestClient.load(IN_CLUSTER, join(root, 'nowhere'))).toThrow(/token does not exist/);
  });
});
