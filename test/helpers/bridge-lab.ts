/**
 * E2E fixture: the whole bridge on the lab's two real clusters, in this process: the synchronizer,
 * the aggregator (with hand-offs through the synchronizer's catch-up API) and a sidecar whose upstream
 * is the aggregator, with a per-namespace client certificate. Starts from an empty routing table.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAggregatorConfig } from '../../aggregator/config.js';
import { removeFence } from '../../aggregator/fencing.js';
import { startAggregator, type RunningAggregator } from '../../aggregator/server.js';
import { issueSidecarClientCert } from '../../certs/bridge-certs.js';
import { labComponentsKubeconfig } from '../../lab/install-bridge.js';
import { KubeRestClient } from '../../lib/kube-rest-client.js';
import { AGGREGATOR_LEASE, DESIRED_OWNERS_CONFIGMAP, ROUTING_TABLE_CONFIGMAP, SYNCHRONIZER_LEASE, SYSTEM_NAMESPACE } from '../../lib/names.js';
import { generateCa, issueCertificate, type CertificateAndKey } from '../../lib/pki.js';
import { loadSyncConfig } from '../../synchronizer/config.js';
import { startSynchronizer, type RunningSynchronizer } from '../../synchronizer/server.js';
import { kubeconfigPath } from './lab-clients.js';
import { startLabSidecar, type LabSidecar } from './sidecar-lab.js';
import { silentLog } from './sidecar-fixtures.js';

export interface LabBridge {
  synchronizer: RunningSynchronizer;
  aggregator: RunningAggregator;
  sidecar: LabSidecar;
  bridgeCa: CertificateAndKey;
  /** https://127.0.0.1:<aggregator port> */
  aggregatorUrl: string;
  destination: KubeRestClient;
  close(): Promise<void>;
}

/** Forgets earlier runs' routing: the table, the desired owners and the leader Leases (nothing else may be running). */
export async function resetBridgeState(destination: KubeRestClient): Promise<void> {
  for (const path of [
    `/api/v1/namespaces/${SYSTEM_NAMESPACE}/configmaps/${ROUTING_TABLE_CONFIGMAP}`,
    `/api/v1/namespaces/${SYSTEM_NAMESPACE}/configmaps/${DESIRED_OWNERS_CONFIGMAP}`,
    `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases/${AGGREGATOR_LEASE}`,
    `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases/${SYNCHRONIZER_LEASE}`,
  ]) {
    await destination.expect('DELETE', path, [200, 202, 404]);
  }
}

async function tlsDir(ca: CertificateAndKey, withClient: boolean): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bridge-e2e-'));
  const serving = await issueCertificate(ca, { commonName: 'bridge-e2e', ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'], usage: 'server' });
  writeFileSync(join(dir, 'tls.crt'), serving.certPem);
  writeFileSync(join(dir, 'tls.key'), serving.keyPem);
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  if (withClient) {
    const client = await issueCertificate(ca, { commonName: 'bridge-e2e-aggregator', usage: 'client' });
    writeFileSync(join(dir, 'client.crt'), client.certPem);
    writeFileSync(join(dir, 'client.key'), client.keyPem);
  }
  return dir;
}

/**
 * Another aggregator beside a running bridge (same routing table, no synchronizer, not leading),
 * reaching the destination through `destinationKubeconfig`: for failure tests.
 */
export async function startSecondAggregator(bridge: LabBridge, destinationKubeconfig: string): Promise<RunningAggregator> {
  const env = {
    BRIDGE_SOURCE_KUBECONFIG: await labComponentsKubeconfig('source'),
    BRIDGE_DESTINATION_KUBECONFIG: destinationKubeconfig,
    BRIDGE_LISTEN_HOST: '127.0.0.1',
    BRIDGE_LISTEN_PORT: '0',
    BRIDGE_OPS_HOST: '127.0.0.1',
    BRIDGE_OPS_PORT: '0',
    BRIDGE_TLS_DIR: await tlsDir(bridge.bridgeCa, false),
  };
  return startAggregator(loadAggregatorConfig(env), silentLog);
}

export async function startLabBridge(options: { namespace: string; shards?: string[] }): Promise<LabBridge> {
  const destination = KubeRestClient.load(kubeconfigPath('destination'));
  await resetBridgeState(destination);
  const bridgeCa = await generateCa('bridge-e2e-ca');
  const clusters = { BRIDGE_SOURCE_KUBECONFIG: await labComponentsKubeconfig('source'), BRIDGE_DESTINATION_KUBECONFIG: kubeconfigPath('destination') };
  const local = { BRIDGE_LISTEN_HOST: '127.0.0.1', BRIDGE_LISTEN_PORT: '0', BRIDGE_OPS_HOST: '127.0.0.1', BRIDGE_OPS_PORT: '0' };
  const synchronizer = await startSynchronizer(
    loadSyncConfig({
      ...clusters,
      ...local,
      BRIDGE_TLS_DIR: await tlsDir(bridgeCa, false),
      ...(options.shards ? { BRIDGE_SHARDS: options.shards.join(',') } : {}),
    }),
    silentLog,
  );
  const aggregator = await startAggregator(
    loadAggregatorConfig({
      ...clusters,
      ...local,
      BRIDGE_TLS_DIR: await tlsDir(bridgeCa, true),
      BRIDGE_SYNCHRONIZER_URL: `https://127.0.0.1:${synchronizer.port}`,
    }),
    silentLog,
  );
  const aggregatorUrl = `https://127.0.0.1:${aggregator.port}`;
  const sidecar = await startLabSidecar({
    upstream: aggregatorUrl,
    upstreamCaPem: bridgeCa.certPem,
    upstreamClient: await issueSidecarClientCert(bridgeCa, { namespace: options.namespace }),
    podNamespace: options.namespace,
  });
  return {
    synchronizer,
    aggregator,
    sidecar,
    bridgeCa,
    aggregatorUrl,
    destination,
    async close() {
      await sidecar.sidecar.shutdown(1000);
      await aggregator.close();
      await synchronizer.close();
      await resetBridgeState(destination);
      const source = KubeRestClient.load(kubeconfigPath('source'));
      await removeFence(source);
      source.close();
      destination.close();
    },
  };
}
