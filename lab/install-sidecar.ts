/**
 * `bridgectl lab install`, sidecar part: one sidecar standing in for an injected pod in `lab-apps`,
 * with a loopback certificate from the bridge CA, and `.lab/workload.kubeconfig` that reaches the API
 * exactly as that pod would. Its upstream is the lab's aggregator (mTLS with a client certificate of
 * lab-apps), or the source API server when no aggregator was installed.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BridgeError } from '../lib/errors.js';
import { httpsRequest } from '../lib/https-json.js';
import { writeKubeconfig } from '../lib/kubeconfig.js';
import { issueSidecarClientCert } from '../certs/bridge-certs.js';
import { issueCertificate } from '../lib/pki.js';
import { freePort } from '../lib/ports.js';
import { sidecarImageCommand } from '../sidecar/image-command.js';
import { waitForOpsReady } from './process.js';
import { LAB_APPS_NAMESPACE, type LabInstallContext } from './install-context.js';

export const LOOPBACK_DNS_NAMES = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];

export async function installSidecar(ctx: LabInstallContext): Promise<void> {
  const source = ctx.lab.clusters.source;
  const dir = ctx.componentDir('sidecar');
  const tlsDir = join(dir, 'tls');
  mkdirSync(tlsDir, { recursive: true });
  const loopback = await issueCertificate(ctx.bridgeCa, { commonName: 'cluster-bridge-sidecar', dnsNames: LOOPBACK_DNS_NAMES, ipAddresses: ['127.0.0.1'], usage: 'server' });
  writeFileSync(join(tlsDir, 'tls.crt'), loopback.certPem);
  writeFileSync(join(tlsDir, 'tls.key'), loopback.keyPem, { mode: 0o600 });
  const upstream = ctx.published.aggregator ?? source.server;
  if (ctx.published.aggregator) {
    // The aggregator is verified by the bridge CA and knows the pod's namespace from this certificate.
    writeFileSync(join(tlsDir, 'ca.crt'), ctx.bridgeCa.certPem);
    const client = await issueSidecarClientCert(ctx.bridgeCa, { namespace: LAB_APPS_NAMESPACE });
    writeFileSync(join(tlsDir, 'client.crt'), client.certPem);
    writeFileSync(join(tlsDir, 'client.key'), client.keyPem, { mode: 0o600 });
  } else {
    writeFileSync(join(tlsDir, 'ca.crt'), ctx.clusterCaPem.source);
  }
  const clusterCaFile = join(dir, 'cluster-ca.crt');
  writeFileSync(clusterCaFile, ctx.clusterCaPem.source);

  const [port, opsPort] = [await freePort(), await freePort()];
  const apiserver = new URL(source.server);
  // Run exactly what the image runs (the bundle and its V8 flags).
  const { nodeFlags, entry } = sidecarImageCommand();
  const record = ctx.startNodeProcess(
    'sidecar',
    [...nodeFlags, entry],
    {
      BRIDGE_UPSTREAM: upstream,
      BRIDGE_LOCAL_APISERVER: apiserver.host,
      BRIDGE_LOCAL_CA_FILE: clusterCaFile,
      BRIDGE_TLS_DIR: tlsDir,
      BRIDGE_LISTEN_PORT: String(port),
      BRIDGE_OPS_PORT: String(opsPort),
      BRIDGE_POD_NAME: 'lab-workload',
      BRIDGE_POD_NAMESPACE: LAB_APPS_NAMESPACE,
      BRIDGE_NODE_NAME: 'lab-node-0',
    },
    [port, opsPort],
  );
  await waitForOpsReady(record, opsPort);
  ctx.progress(`sidecar: https://127.0.0.1:${port} -> ${upstream} (ops :${opsPort})`);

  const token = await labAppsToken(ctx);
  writeKubeconfig(join(ctx.labDir, 'workload.kubeconfig'), {
    clusterName: 'lab-workload',
    server: `https://127.0.0.1:${port}`,
    caPem: ctx.clusterCaPem.source + ctx.bridgeCa.certPem,
    userName: `system:serviceaccount:${LAB_APPS_NAMESPACE}:default`,
    credentials: { token },
    namespace: LAB_APPS_NAMESPACE,
  });
  ctx.progress('sidecar: wrote .lab/workload.kubeconfig');
}

/** Creates lab-apps if needed, lets its default ServiceAccount edit it, and asks the TokenRequest API for its token. */
async function labAppsToken(ctx: LabInstallContext): Promise<string> {
  const server = ctx.lab.clusters.source.server;
  const pki = join(ctx.labDir, 'source', 'pki');
  const admin = { caPem: ctx.clusterCaPem.source, certPem: readFileSync(join(pki, 'admin.crt'), 'utf8'), keyPem: readFileSync(join(pki, 'admin.key'), 'utf8') };
  const ns = await httpsRequest(`${server}/api/v1/namespaces`, admin, { method: 'POST', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: LAB_APPS_NAMESPACE } } });
  if (ns.status !== 201 && ns.status !== 409) throw new BridgeError('BRIDGE_ERR_KUBE_API', `creating namespace ${LAB_APPS_NAMESPACE}: HTTP ${ns.status} ${ns.body}`);
  // The stand-in workload may edit its own namespace, like a typical operator or CI job (namespace-scoped only).
  const binding = await httpsRequest(`${server}/apis/rbac.authorization.k8s.io/v1/namespaces/${LAB_APPS_NAMESPACE}/rolebindings`, admin, {
    method: 'POST',
    body: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'lab-workload-edit' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
      subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: LAB_APPS_NAMESPACE }],
    },
  });
  if (binding.status !== 201 && binding.status !== 409) throw new BridgeError('BRIDGE_ERR_KUBE_API', `creating RoleBinding lab-workload-edit: HTTP ${binding.status} ${binding.body}`);
  // The default ServiceAccount appears shortly after the namespace (service-account controller).
  for (let i = 0; i < 100; i++) {
    const result = await httpsRequest(`${server}/api/v1/namespaces/${LAB_APPS_NAMESPACE}/serviceaccounts/default/token`, admin, {
      method: 'POST',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 86_400 } },
    });
    if (result.status === 201) return (JSON.parse(result.body) as { status: { token: string } }).status.token;
    if (result.status !== 404) throw new BridgeError('BRIDGE_ERR_KUBE_API', `TokenRequest for ${LAB_APPS_NAMESPACE}/default: HTTP ${result.status}`);
    await sleep(200);
  }
  throw new BridgeError('BRIDGE_ERR_KUBE_API', `ServiceAccount ${LAB_APPS_NAMESPACE}/default never appeared`, { fix: 'check the source kube-controller-manager log' });
}
