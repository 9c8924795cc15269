/**
 * `bridgectl lab install`, sidecar part: one sidecar standing in for an injected pod in `lab-apps`,
 * with a loopback certificate from the bridge CA, and `.lab/workload.kubeconfig` that reaches the API
 * exactly as that pod would. Its upstream is the lab's aggregator (mTLS with a client certificate of
 * lab-apps), or the source API server when no aggregator was installed.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BridgeError } from '../lib/errors.js';
import { ifAbsent, KubeRestClient, usingClient } from '../lib/kube/rest-client.js';
import { writeKubeconfig } from './kubeconfig.js';
import { issueSidecarTlsFiles } from '../certs/bridge-certs.js';
import { bridgeRootPem } from '../certs/bridge-authority.js';
import { writeSidecarTlsDir } from '../certs/cert-files.js';
import { waitUntil } from '../lib/wait-until.js';
import { sidecarImageCommand } from '../sidecar/image-command.js';
import { waitForOpsReady } from './process.js';
import { LAB_APPS_NAMESPACE, type LabInstallContext } from './install-context.js';
import { labComponentsKubeconfig } from './install-bridge.js';
import { LAB_NODE_NAME } from './kubelet-streaming.js';

export async function installSidecar(ctx: LabInstallContext): Promise<void> {
  const source = ctx.lab.clusters.source;
  const dir = ctx.componentDir('sidecar');
  const tlsDir = join(dir, 'tls');
  const upstream = ctx.published.aggregator ?? source.server;
  // The same files the namespace reconciler puts in the Secret of a labelled namespace: the upstream
  // (the aggregator, verified by the bridge root) knows the pod's namespace from the client certificate.
  const trust = ctx.published.aggregator ? bridgeRootPem(ctx.issuers) : ctx.clusterCaPem.source;
  writeSidecarTlsDir(tlsDir, await issueSidecarTlsFiles(ctx.issuers, trust, { namespace: LAB_APPS_NAMESPACE }));
  const clusterCaFile = join(dir, 'cluster-ca.crt');
  writeFileSync(clusterCaFile, ctx.clusterCaPem.source);

  const [port, opsPort] = await ctx.ports('sidecar');
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
      BRIDGE_NODE_NAME: LAB_NODE_NAME,
    },
    [port, opsPort],
  );
  await waitForOpsReady(record, opsPort);
  ctx.progress(`sidecar: https://127.0.0.1:${port} -> ${upstream} (ops :${opsPort})`);

  const token = await labAppsToken();
  writeKubeconfig(join(ctx.labDir, 'workload.kubeconfig'), {
    clusterName: 'lab-workload',
    server: `https://127.0.0.1:${port}`,
    caPem: ctx.clusterCaPem.source + bridgeRootPem(ctx.issuers),
    userName: `system:serviceaccount:${LAB_APPS_NAMESPACE}:default`,
    credentials: { token },
    namespace: LAB_APPS_NAMESPACE,
  });
  ctx.progress('sidecar: wrote .lab/workload.kubeconfig');
}

/**
 * Creates `namespace` (with `labels`) unless it exists, and lets `subject` edit it (the ClusterRole
 * edit, bound as `binding`): a stand-in workload, like a typical operator or CI job, namespace-scoped only.
 */
export async function ensureEditableNamespace(
  admin: KubeRestClient,
  namespace: string,
  binding: string,
  subject: { kind: string; name: string; namespace: string },
  labels: Record<string, string> = {},
): Promise<void> {
  await admin.createOrReplace('/api/v1/namespaces', namespace, ifAbsent({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels } }));
  await admin.createOrReplace(
    `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`,
    binding,
    ifAbsent({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: binding },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
      subjects: [subject],
    }),
  );
}

/** Creates lab-apps if needed, lets its default ServiceAccount edit it, and asks the TokenRequest API for its token. */
async function labAppsToken(): Promise<string> {
  // As the bridge's own identity: the source's fence refuses the lab's admin once a shard moved (issue 21).
  return usingClient(KubeRestClient.load(await labComponentsKubeconfig('source')), async (admin) => {
    await ensureEditableNamespace(admin, LAB_APPS_NAMESPACE, 'lab-workload-edit', { kind: 'ServiceAccount', name: 'default', namespace: LAB_APPS_NAMESPACE });
    // The default ServiceAccount appears shortly after the namespace (service-account controller).
    const tokenRequest = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 86_400 } };
    return waitUntil(
      `ServiceAccount ${LAB_APPS_NAMESPACE}/default`,
      async () => {
        const result = await admin.expect<{ status: { token: string } }>(
          'POST',
          `/api/v1/namespaces/${LAB_APPS_NAMESPACE}/serviceaccounts/default/token`,
          [201, 404],
          tokenRequest,
        );
        return result.status === 201 ? result.body.status.token : undefined;
      },
      {
        timeoutMs: 20_000,
        intervalMs: 200,
        failure: (message) => new BridgeError('BRIDGE_ERR_KUBE_API', message, { fix: 'check the source kube-controller-manager log' }),
      },
    );
  });
}
