/**
 * What the synchronizer's hand-off e2e files hold around a synchronizer they start themselves: both
 * clusters' clients and connections, the routing table store, the environment of a lab synchronizer
 * serving catch-up with throwaway TLS, and a catch-up client presenting the aggregator's certificate.
 * The file imports its private lab first (private-lab.ts); close() stops the lab too.
 */
import { issueComponentClientCert } from '../../certs/bridge-certs.js';
import { labSynchronizerEnv, throwawayTls } from '../../lab/local-synchronizer.js';
import { connectCluster, type ClusterConnection } from '../../lib/kube/cluster-connection.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { CatchUpClient } from '../../lib/mirror/catchup-client.js';
import { AGGREGATOR_SERVICE } from '../../lib/names.js';
import { ConfigMapRoutingStore } from '../../lib/routing/configmap-store.js';
import type { ClusterSide } from '../../lib/routing/types.js';
import type { RunningSynchronizer } from '../../synchronizer/server.js';
import { kubeconfigPath } from './lab-clients.js';
import { stopPrivateLab } from './private-lab.js';
import { silentLog } from './sidecar-fixtures.js';

export interface SynchronizerTestbed {
  source: KubeRestClient;
  destination: KubeRestClient;
  connections: Record<ClusterSide, ClusterConnection>;
  store: ConfigMapRoutingStore;
  /** For loadSyncConfig: the lab synchronizer's, with the throwaway TLS and `extraEnv`. */
  env: Record<string, string>;
  /** A catch-up client of the synchronizer on `port`, as the aggregator. */
  catchUpClient(port: number): CatchUpClient;
  /** Closes `sync`, the clients and the connections, and stops the private lab. */
  close(sync: RunningSynchronizer | undefined): Promise<void>;
}

export async function synchronizerTestbed(name: string, shards: string[], extraEnv: Record<string, string> = {}): Promise<SynchronizerTestbed> {
  const source = KubeRestClient.load(kubeconfigPath('source'));
  const destination = KubeRestClient.load(kubeconfigPath('destination'));
  const connections = {
    source: await connectCluster('source', kubeconfigPath('source')),
    destination: await connectCluster('destination', kubeconfigPath('destination')),
  };
  const tls = await throwawayTls(name);
  const caller = await issueComponentClientCert(tls.issuers.componentClient, AGGREGATOR_SERVICE);
  return {
    source,
    destination,
    connections,
    store: new ConfigMapRoutingStore(destination, silentLog),
    env: { ...(await labSynchronizerEnv(name, shards)), BRIDGE_TLS_DIR: tls.dir, ...extraEnv },
    catchUpClient: (port) => new CatchUpClient({ url: `https://127.0.0.1:${port}`, caPem: tls.ca.certPem, certPem: caller.certPem, keyPem: caller.keyPem }),
    async close(sync) {
      await sync?.close();
      source.close();
      destination.close();
      for (const connection of Object.values(connections)) connection.close();
      await stopPrivateLab();
    },
  };
}
