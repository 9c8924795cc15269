/**
 * E2E fixture: the whole bridge on the lab's two real clusters, in this process: the synchronizer,
 * the aggregator (with hand-offs through the synchronizer's catch-up API) and a sidecar whose upstream
 * is the aggregator, with a per-namespace client certificate. Starts from an empty routing table.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAggregatorConfig } from '../../aggregator/config.js';
import { removeFence } from '../../aggregator/handoff/fencing.js';
import { startAggregator, type RunningAggregator } from '../../aggregator/server.js';
import { generateBridgeAuthority, type BridgeIssuers } from '../../certs/bridge-authority.js';
import { issueComponentTlsFiles, issueSidecarClientCert } from '../../certs/bridge-certs.js';
import { writeComponentTlsDir } from '../../certs/cert-files.js';
import { ensureSourceSystemNamespace, labComponentsKubeconfig } from '../../lab/install-bridge.js';
import { KubeRestClient, usingClient } from '../../lib/kube/rest-client.js';
import {
  AGGREGATOR_LEASE,
  AGGREGATOR_SERVICE,
  DESIRED_OWNERS_CONFIGMAP,
  REPLICA_LABEL,
  ROUTING_TABLE_CONFIGMAP,
  SYNCHRONIZER_LEASE,
  SYNCHRONIZER_SERVICE,
  SYSTEM_NAMESPACE,
} from '../../lib/names.js';
import type { CertificateAndKey } from '../../lib/tls/pki.js';
import { loadSyncConfig } from '../../synchronizer/config.js';
import { startSynchronizer, type RunningSynchronizer } from '../../synchronizer/server.js';
import { isProcessRunning, kubeconfigPath } from './lab-clients.js';
import { labDir } from '../../lib/process/paths.js';
import { ROLLOUTS_PATH } from '../../aggregator/rollout/rollout-types.js';
import { startLabSidecar, type LabSidecar } from './sidecar-lab.js';
import { silentLog } from './sidecar-fixtures.js';
import { pino } from 'pino';

/** The bridge's components log nowhere, unless BRIDGE_E2E_LOG_FILE names a file to append their logs to (a failure's story). */
const componentLog = process.env.BRIDGE_E2E_LOG_FILE
  ? pino({ level: 'debug' }, pino.destination({ dest: process.env.BRIDGE_E2E_LOG_FILE, append: true }))
  : silentLog;

export interface LabBridge {
  synchronizer: RunningSynchronizer;
  aggregator: RunningAggregator;
  sidecar: LabSidecar;
  /** The bridge's root: what a client of the aggregator trusts. */
  bridgeCa: CertificateAndKey;
  /** Its intermediates, to issue a sidecar's (`client`) or a component's (`component`) certificate as the bridge does. */
  issuers: BridgeIssuers;
  /** https://127.0.0.1:<aggregator port> */
  aggregatorUrl: string;
  destination: KubeRestClient;
  close(): Promise<void>;
}

/**
 * The lab's bridge state (routing table, desired owners, rollouts, Leases) is one per lab, so test
 * files that run a bridge take turns: a lock directory holding the owner's pid (a dead owner's lock is
 * taken over).
 */
export async function lockBridgeState(): Promise<() => void> {
  const dir = join(labDir(), 'bridge-state.lock');
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'pid'), String(process.pid));
      return () => rmSync(dir, { recursive: true, force: true });
    } catch {
      const owner = Number(readFileSync(join(dir, 'pid'), { encoding: 'utf8', flag: 'a+' }) || '0');
      if (owner && !isProcessRunning(owner)) rmSync(dir, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`the lab's bridge state stayed locked by pid ${owner} for 15 minutes`);
      else await sleep(500);
    }
  }
}

/** Forgets earlier runs' routing: the table, the desired owners, the rollouts and the leader Leases (nothing else may be running). */
export async function resetBridgeState(destination: KubeRestClient): Promise<void> {
  await destination.expect('DELETE', ROLLOUTS_PATH, [200, 404]);
  for (const path of [
    `/api/v1/namespaces/${SYSTEM_NAMESPACE}/configmaps/${ROUTING_TABLE_CONFIGMAP}`,
    `/api/v1/namespaces/${SYSTEM_NAMESPACE}/configmaps/${DESIRED_OWNERS_CONFIGMAP}`,
    `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases/${AGGREGATOR_LEASE}`,
    `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases/${SYNCHRONIZER_LEASE}`,
  ]) {
    await destination.expect('DELETE', path, [200, 202, 404]);
  }
  // Replicas killed by earlier tests: their Leases would make this test's hand-offs wait for them to expire.
  await destination.expect(
    'DELETE',
    `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases?labelSelector=${encodeURIComponent(`${REPLICA_LABEL}=true`)}`,
    [200],
  );
}

/** A component's BRIDGE_TLS_DIR as `bridgectl certs` makes it, for 127.0.0.1; the aggregator's with its client certificate. */
async function tlsDir(issuers: BridgeIssuers, service: string, withClient: boolean): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bridge-e2e-'));
  writeComponentTlsDir(dir, await issueComponentTlsFiles(issuers, service, { ipAddresses: ['127.0.0.1'], extraDnsNames: ['localhost'], client: withClient }));
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
    BRIDGE_TLS_DIR: await tlsDir(bridge.issuers, AGGREGATOR_SERVICE, false),
  };
  return startAggregator(loadAggregatorConfig(env), silentLog);
}

export interface LabBridgeOptions {
  namespace: string;
  /** The synchronizer's shards (default: all of DEFAULT_SHARDS). */
  shards?: string[];
  /** The aggregator's kubeconfig for the source (default: the lab's bridge-components certificate, system:masters). */
  aggregatorSourceKubeconfig?: string;
  /** The synchronizer's kubeconfigs (default: the lab's bridge-components certificate on the source, the admin's on the destination). */
  synchronizerKubeconfigs?: { source: string; destination: string };
  /** The aggregator's leader Lease duration (default 30 s). */
  leaseDurationSeconds?: number;
  /**
   * Called with the aggregator's environment before it starts: a test can start another replica from
   * the same settings first (which then leads).
   */
  beforeAggregator?: (env: Record<string, string>) => Promise<void>;
}

export async function startLabBridge(options: LabBridgeOptions): Promise<LabBridge> {
  const unlock = await lockBridgeState();
  try {
    const bridge = await startBridge(options);
    return { ...bridge, close: () => bridge.close().finally(unlock) };
  } catch (err) {
    unlock();
    throw err;
  }
}

async function startBridge(options: LabBridgeOptions): Promise<LabBridge> {
  const destination = KubeRestClient.load(kubeconfigPath('destination'));
  await resetBridgeState(destination);
  await usingClient(KubeRestClient.load(kubeconfigPath('source')), ensureSourceSystemNamespace);
  const { root: bridgeCa, issuers } = await generateBridgeAuthority('bridge-e2e-ca');
  const clusters = { BRIDGE_SOURCE_KUBECONFIG: await labComponentsKubeconfig('source'), BRIDGE_DESTINATION_KUBECONFIG: kubeconfigPath('destination') };
  const local = { BRIDGE_LISTEN_HOST: '127.0.0.1', BRIDGE_LISTEN_PORT: '0', BRIDGE_OPS_HOST: '127.0.0.1', BRIDGE_OPS_PORT: '0' };
  const synchronizer = await startSynchronizer(
    loadSyncConfig({
      ...clusters,
      ...(options.synchronizerKubeconfigs
        ? { BRIDGE_SOURCE_KUBECONFIG: options.synchronizerKubeconfigs.source, BRIDGE_DESTINATION_KUBECONFIG: options.synchronizerKubeconfigs.destination }
        : {}),
      ...local,
      BRIDGE_TLS_DIR: await tlsDir(issuers, SYNCHRONIZER_SERVICE, false),
      ...(options.shards ? { BRIDGE_SHARDS: options.shards.join(',') } : {}),
    }),
    componentLog.child({ component: 'synchronizer' }),
  );
  const aggregatorEnv = {
    ...clusters,
    ...(options.aggregatorSourceKubeconfig ? { BRIDGE_SOURCE_KUBECONFIG: options.aggregatorSourceKubeconfig } : {}),
    ...local,
    BRIDGE_TLS_DIR: await tlsDir(issuers, AGGREGATOR_SERVICE, true),
    BRIDGE_SYNCHRONIZER_URL: `https://127.0.0.1:${synchronizer.port}`,
    ...(options.leaseDurationSeconds ? { BRIDGE_LEASE_DURATION_SECONDS: String(options.leaseDurationSeconds) } : {}),
  };
  await options.beforeAggregator?.(aggregatorEnv);
  const aggregator = await startAggregator(loadAggregatorConfig(aggregatorEnv), componentLog.child({ component: 'aggregator' }));
  const aggregatorUrl = `https://127.0.0.1:${aggregator.port}`;
  const sidecar = await startLabSidecar({
    upstream: aggregatorUrl,
    upstreamCaPem: bridgeCa.certPem,
    upstreamClient: await issueSidecarClientCert(issuers.client, { namespace: options.namespace }),
    podNamespace: options.namespace,
  });
  return {
    synchronizer,
    aggregator,
    sidecar,
    bridgeCa,
    issuers,
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
