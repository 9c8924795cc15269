/**
 * `bridgectl lab install`, sidecar part: one sidecar standing in for an injected pod in `lab-apps`,
 * with a loopback certificate from the bridge CA, and `.lab/workload.kubeconfig` that reaches the API
 * exactly as that pod would. Its upstream is the lab's aggregator (mTLS with a client certificate of
 * lab-apps), or the source API server when no aggregator was installed.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BridgeError } from '../lib/errors.js';
import { httpsRequest } from '../lib/https-json.js';
import { writeKubeconfig } from '../lib/kubeconfig.js';
import { issueSidecarTlsFiles } from '../certs/bridge-certs.js';
import { writeSidecarTlsDir } from '../certs/cert-files.js';
import { freePort } from '../lib/ports.js';
import { sidecarImageCommand } from '../sidecar/image-command.js';
import { waitForOpsReady } from './process.js';
import { LAB_APPS_NAMESPACE, type LabInstallContext } from './install-context.js';
import { adminCredentials } from './lab-files.js';

export async function installSidecar(ctx: LabInstallContext): Promise<void> {
  const source = ctx.lab.clusters.source;
  const dir = ctx.componentDir('sidecar');
  const tlsDir = join(dir, 'tls');
  const upstream = ctx.published.aggregator ?? source.server;
  // The same files the namespace reconciler puts in the Secret of a labelled namespace: the upstream
  // (the aggregator, verified by the bridge CA) knows the pod's namespace from the client certificate.
  const trust = ctx.published.aggregator ? ctx.bridgeCa.certPem : ctx.clusterCaPem.source;
  writeSidecarTlsDir(tlsDir, await issueSidecarTlsFiles(ctx.bridgeCa, trust, { namespace: LAB_APPS_NAMESPACE }));
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
  const admin = adminCredentials('source');
  const ns = await httpsRequest(`${server}/api/v1/namespaces`, admin, {
    method: 'POST',
    body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: LAB_APPS_NAMESPACE } },
  });
  if (ns.status !== 201 && ns.status !== 409)
    throw new BridgeError('BRIDGE_ERR_KUBE_API', `creating namespace ${LAB_APPS_NAMESPACE}: HTTP ${ns.status} ${ns.body}`);
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
  if (binding.status !== 201 && binding.status !== 409)
    throw new BridgeError('BRIDGE_ERR_KUBE_API', `creating RoleBinding lab-workload-edit: HTTP ${binding.status} ${binding.body}`);
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
  throw new BridgeError('BRIDGE_ERR_KUBE_API', `ServiceAccount ${LAB_APPS_NAMESPACE}/default never appeared`, {
    fix: 'check the source kube-controller-manager log',
  });
}
