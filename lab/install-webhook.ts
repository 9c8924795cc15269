/**
 * `bridgectl lab install`, webhook part: runs the webhook as a local process against the source
 * cluster, registers it by URL, labels lab-apps for injection and puts the CA bundle there.
 */
import { KubeRestClient } from '../lib/kube/rest-client.js';
import { issueWebhookServingCert } from '../certs/bridge-certs.js';
import { writePemPair } from '../certs/cert-files.js';
import { bridgeRootPem } from '../certs/bridge-authority.js';
import { CA_BUNDLE_CONFIGMAP, INJECT_LABEL, INJECT_LABEL_VALUE, SYSTEM_NAMESPACE } from '../webhook/constants.js';
import { caBundleConfigMap, caBundleFor } from '../webhook/namespace-reconciler.js';
import { registerWebhook } from '../webhook/registration.js';
import { E2E_WEBHOOK_LABEL } from '../lib/names.js';
import { waitForOpsReady } from './process.js';
import { LAB_APPS_NAMESPACE, type LabInstallContext } from './install-context.js';
import { labComponentsKubeconfig } from './install-bridge.js';

export const LAB_WEBHOOK_CONFIGURATION = 'cluster-bridge-lab-injector';
/** Where injected lab pods send API calls until the aggregator is installed: override with BRIDGE_LAB_AGGREGATOR_ADDRESS. */
export const LAB_AGGREGATOR_PLACEHOLDER = 'cluster-bridge-aggregator.lab.invalid:443';

export async function installWebhook(ctx: LabInstallContext, options: { aggregatorAddress?: string } = {}): Promise<void> {
  const dir = ctx.componentDir('webhook');
  const serving = await issueWebhookServingCert(ctx.issuers.componentServing, { ipAddresses: ['127.0.0.1'], validityDays: 365 });
  const servingFiles = writePemPair(dir, 'serving', serving);
  // The intermediates only: the root's key stays in .lab/install (ADR 0021).
  const servingCa = writePemPair(dir, 'serving-ca', ctx.issuers.serving);
  const clientCa = writePemPair(dir, 'client-ca', ctx.issuers.client);
  const root = bridgeRootPem(ctx.issuers);
  const [port, opsPort] = await ctx.ports('webhook');
  // The bridge's own identity, as in a real installation: the source's fence lets it write whatever the routing table says (issue 21).
  const kubeconfig = await labComponentsKubeconfig('source');
  const client = KubeRestClient.load(kubeconfig);
  try {
    await client.createOrReplace('/api/v1/namespaces', SYSTEM_NAMESPACE, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: SYSTEM_NAMESPACE } });
    const upstream = options.aggregatorAddress ?? process.env.BRIDGE_LAB_AGGREGATOR_ADDRESS ?? LAB_AGGREGATOR_PLACEHOLDER;
    const record = ctx.startComponent(
      'webhook',
      [
        'webhook',
        'serve',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--ops-host',
        '127.0.0.1',
        '--ops-port',
        String(opsPort),
        '--kubeconfig',
        kubeconfig,
        '--tls-cert-file',
        servingFiles.certFile,
        '--tls-key-file',
        servingFiles.keyFile,
        '--upstream',
        upstream,
        '--local-apiserver',
        ctx.lab.clusters.source.server.replace(/^https:\/\//, ''),
        '--serving-ca-cert-file',
        servingCa.certFile,
        '--serving-ca-key-file',
        servingCa.keyFile,
        '--client-ca-cert-file',
        clientCa.certFile,
        '--client-ca-key-file',
        clientCa.keyFile,
        '--reconcile',
        'true',
        '--reconcile-seconds',
        '10',
      ],
      {},
      [port, opsPort],
    );
    await waitForOpsReady(record, opsPort);
    ctx.progress(`webhook: pid ${record.pid}, https://127.0.0.1:${port}/mutate, ops :${opsPort}, upstream ${upstream}`);

    await registerWebhook(client, {
      name: LAB_WEBHOOK_CONFIGURATION,
      clientConfig: { url: `https://127.0.0.1:${port}/mutate` },
      caBundlePem: root,
      // The webhook e2e suites register their own injectors for their namespaces; keep out of their way.
      extraNamespaceExpressions: [{ key: E2E_WEBHOOK_LABEL, operator: 'DoesNotExist' }],
    });
    await client.createOrReplace('/api/v1/namespaces', LAB_APPS_NAMESPACE, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: LAB_APPS_NAMESPACE, labels: { [INJECT_LABEL]: INJECT_LABEL_VALUE } },
    });
    await client.createOrReplace(
      `/api/v1/namespaces/${LAB_APPS_NAMESPACE}/configmaps`,
      CA_BUNDLE_CONFIGMAP,
      caBundleConfigMap(LAB_APPS_NAMESPACE, caBundleFor(ctx.clusterCaPem.source, root)),
    );
    ctx.progress(
      `webhook: registered ${LAB_WEBHOOK_CONFIGURATION}; namespace ${LAB_APPS_NAMESPACE} labelled ${INJECT_LABEL}=${INJECT_LABEL_VALUE} with ${CA_BUNDLE_CONFIGMAP}`,
    );
  } finally {
    client.close();
  }
}
