/**
 * `bridgectl lab install`, the bridge itself: the synchronizer (mirrors the lab's two clusters,
 * serves the catch-up API) and the aggregator (the API the lab's sidecar forwards to), as local
 * processes with certificates from the lab's bridge CA. They use the lab's admin kubeconfigs; the
 * manifests carry the least-privilege RBAC a real installation gets.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeKubeconfig } from './kubeconfig.js';
import { KubeRestClient, usingClient } from '../lib/kube/rest-client.js';
import { SYNCHRONIZER_LEASE, SYSTEM_NAMESPACE } from '../lib/names.js';
import { labDir, repoRoot } from '../lib/process/paths.js';
import { waitUntil } from '../lib/wait-until.js';
import { parse } from 'yaml';
import { issueCertificate } from '../lib/tls/pki.js';
import { issueComponentClientCert } from '../certs/bridge-certs.js';
import { bridgeRootPem } from '../certs/bridge-authority.js';
import { waitForOpsReady } from './process.js';
import type { LabInstallContext } from './install-context.js';
import type { ClusterName } from './control-plane.js';
import { kubeconfigPath, requireLab } from './lab-files.js';

/**
 * The identity the bridge's components use on a lab cluster: named like a service account of
 * cluster-bridge-system (as they are in a real installation), so the source's fence lets their writes
 * through while the lab's admin is fenced like any other user. Issued once by the cluster's CA.
 */
export async function labComponentsKubeconfig(cluster: ClusterName): Promise<string> {
  const pki = join(labDir(), cluster, 'pki');
  const certFile = join(pki, 'bridge-components.crt');
  const keyFile = join(pki, 'bridge-components.key');
  const caPem = readFileSync(join(pki, 'ca.crt'), 'utf8');
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    const ca = { certPem: caPem, keyPem: readFileSync(join(pki, 'ca.key'), 'utf8') };
    const cert = await issueCertificate(ca, {
      commonName: `system:serviceaccount:${SYSTEM_NAMESPACE}:lab-components`,
      organizations: ['system:masters'],
      usage: 'client',
    });
    writeFileSync(certFile, cert.certPem);
    writeFileSync(keyFile, cert.keyPem, { mode: 0o600 });
  }
  // Written every time: the lab's ports change when it restarts, the certificate does not.
  const path = join(pki, 'bridge-components.kubeconfig');
  writeKubeconfig(path, {
    clusterName: `lab-${cluster}`,
    server: requireLab().clusters[cluster].server,
    caPem,
    userName: 'bridge-components',
    credentials: { clientCertPem: readFileSync(certFile, 'utf8'), clientKeyPem: readFileSync(keyFile, 'utf8') },
  });
  return path;
}

async function writeTlsDir(ctx: LabInstallContext, component: string, withClient: boolean): Promise<string> {
  const dir = join(ctx.componentDir(component), 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const serving = await issueCertificate(ctx.issuers.componentServing, {
    commonName: `cluster-bridge-${component}`,
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    usage: 'server',
  });
  writeFileSync(join(dir, 'tls.crt'), serving.certPem);
  writeFileSync(join(dir, 'tls.key'), serving.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'ca.crt'), bridgeRootPem(ctx.issuers));
  if (withClient) {
    const client = await issueComponentClientCert(ctx.issuers.componentClient, `cluster-bridge-${component}`);
    writeFileSync(join(dir, 'client.crt'), client.certPem);
    writeFileSync(join(dir, 'client.key'), client.keyPem, { mode: 0o600 });
  }
  return dir;
}

const clusterEnv = async () => ({
  BRIDGE_SOURCE_KUBECONFIG: await labComponentsKubeconfig('source'),
  BRIDGE_DESTINATION_KUBECONFIG: kubeconfigPath('destination'),
});

/** Starts a bridge server component on free loopback ports and waits until it is ready. */
async function startBridgeServer(ctx: LabInstallContext, name: string, args: string[], needsClientCert: boolean, extraEnv: Record<string, string> = {}) {
  const tlsDir = await writeTlsDir(ctx, name, needsClientCert);
  const [port, opsPort] = await ctx.ports(name);
  const env = {
    ...(await clusterEnv()),
    BRIDGE_TLS_DIR: tlsDir,
    BRIDGE_LISTEN_HOST: '127.0.0.1',
    BRIDGE_LISTEN_PORT: String(port),
    BRIDGE_OPS_HOST: '127.0.0.1',
    BRIDGE_OPS_PORT: String(opsPort),
    ...extraEnv,
  };
  await waitForOpsReady(ctx.startComponent(name, args, env, [port, opsPort]), opsPort);
  return { url: `https://127.0.0.1:${port}`, opsPort };
}

export async function installSynchronizer(ctx: LabInstallContext): Promise<void> {
  // A synchronizer of an earlier install that was killed may still hold the leader Lease (it survives
  // lab down and up in etcd); nothing else mirrors now, so the new one need not wait for it to expire.
  await usingClient(KubeRestClient.load(kubeconfigPath('destination')), (client) =>
    client.expect('DELETE', `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases/${SYNCHRONIZER_LEASE}`, [200, 202, 404]),
  );
  const { url, opsPort } = await startBridgeServer(ctx, 'synchronizer', ['sync', 'serve'], false);
  ctx.published.synchronizer = url;
  ctx.progress(`synchronizer: catch-up API ${url} (ops :${opsPort})`);
}

const CRD_COLLECTION = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

/** Applies manifests/destination's BridgeRollout CRD to the destination and waits until it is served. */
export async function applyRolloutCrd(destination: KubeRestClient): Promise<void> {
  const crd = parse(readFileSync(join(repoRoot(), 'manifests', 'destination', 'bridgerollout-crd.yaml'), 'utf8')) as { metadata: { name: string } };
  await destination.createOrReplace(CRD_COLLECTION, crd.metadata.name, crd);
  await waitUntil(`the ${crd.metadata.name} CRD to be established`, async () => {
    const got = await destination.expect<{ status?: { conditions?: { type: string; status: string }[] } }>(
      'GET',
      `${CRD_COLLECTION}/${crd.metadata.name}`,
      [200],
    );
    return got.body.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
  });
}

/** The bridge's namespace on the source, where the aggregator probes its fence (aggregator/handoff/fencing.ts), as the source manifests make it. */
export async function ensureSourceSystemNamespace(source: KubeRestClient): Promise<void> {
  await source.expect('POST', '/api/v1/namespaces', [201, 409], { apiVersion: 'v1', kind: 'Namespace', metadata: { name: SYSTEM_NAMESPACE } });
}

export async function installAggregator(ctx: LabInstallContext): Promise<void> {
  await usingClient(KubeRestClient.load(kubeconfigPath('destination')), applyRolloutCrd);
  await usingClient(KubeRestClient.load(kubeconfigPath('source')), ensureSourceSystemNamespace);
  const synchronizer: Record<string, string> = ctx.published.synchronizer ? { BRIDGE_SYNCHRONIZER_URL: ctx.published.synchronizer } : {};
  const { url, opsPort } = await startBridgeServer(ctx, 'aggregator', ['aggregator', 'serve'], true, synchronizer);
  ctx.published.aggregator = url;
  ctx.published.aggregatorOps = `http://127.0.0.1:${opsPort}`;
  ctx.progress(`aggregator: ${url} (ops :${opsPort})`);
}
