/** One lab control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BridgeError, errorMessage } from '../lib/errors.js';
import { ifAbsent, KubeRestClient, usingClient, type TlsCredentials } from '../lib/kube/rest-client.js';
import { writeKubeconfig } from './kubeconfig.js';
import { freePort } from './ports.js';
import { waitUntil } from '../lib/wait-until.js';
import type { LabBinaries } from './build.js';
import { ensureClusterPki, type ClusterPki } from './cluster-pki.js';
import { LAB_NODE_NAME, writeKubeletStreaming } from './kubelet-streaming.js';
import { isDaemonAlive, logTail, recordingLauncher, stopDaemon, type DaemonRecord } from './process.js';
import type { RealNodeState } from './node/real-node.js';

export type ClusterName = 'source' | 'destination';

export interface ControlPlaneSpec {
  name: ClusterName;
  dir: string;
  serviceCidr: string;
  /** Fixed kube-apiserver port; chosen free when absent. */
  apiserverPort?: number;
  /** kube-controller-manager's `--controllers` flag; absent: every default controller runs. */
  controllersFlag?: string;
  adminKubeconfigPath: string;
  /** Called with each process as soon as it runs. */
  onDaemonStarted?: (daemon: DaemonRecord) => void;
}

export interface ControlPlaneState {
  name: ClusterName;
  server: string;
  apiserverPort: number;
  serviceCidr: string;
  kubeconfig: string;
  daemons: DaemonRecord[];
  /** Present when the lab runs a real node for this cluster (`lab up --real-node`). */
  realNode?: RealNodeState;
}

const READY_TIMEOUT_MS = 120_000;

function adminTls(pki: ClusterPki): TlsCredentials {
  return { caPem: pki.ca.certPem, certPem: pki.admin.certPem, keyPem: pki.admin.keyPem };
}

function failureFor(daemon: DaemonRecord, what: string): BridgeError {
  const tail = logTail(daemon.logFile, 40);
  const inUse = /address already in use/i.exec(tail);
  if (inUse) {
    return new BridgeError('BRIDGE_ERR_LAB_PORT_IN_USE', `${daemon.name} could not bind port ${daemon.ports.join('/')}: address already in use`, {
      fix: 'another process took the port; run `bridgectl lab up` again to pick free ports',
    });
  }
  const lastLine = tail.split('\n').filter(Boolean).slice(-1)[0] ?? 'no output';
  return new BridgeError('BRIDGE_ERR_LAB_START_FAILED', `${daemon.name} ${what}: ${lastLine.slice(0, 300)}`, {
    fix: `read ${daemon.logFile}`,
  });
}

/** Waits for a daemon's readiness probe; a daemon that dies or never answers fails with its log's last line. */
async function waitUntilReady(daemon: DaemonRecord, what: string, probe: () => Promise<boolean>): Promise<void> {
  await waitUntil(what, probe, {
    timeoutMs: READY_TIMEOUT_MS,
    abandon: () => (isDaemonAlive(daemon) ? undefined : 'exited'),
    failure: () => failureFor(daemon, isDaemonAlive(daemon) ? `did not become ready (${what}) within ${READY_TIMEOUT_MS / 1000} s` : 'exited during start-up'),
  });
}

export const AUDIT_LOG_NAME = 'kube-apiserver-audit.log';

/**
 * Every request at level Metadata (who, verb, object, URI, status; never bodies): tests compare the
 * bridge's reading of real clients' requests with the API server's own.
 */
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
`;

export async function startControlPlane(spec: ControlPlaneSpec, bin: LabBinaries): Promise<ControlPlaneState> {
  const logs = join(spec.dir, 'logs');
  mkdirSync(logs, { recursive: true });
  const pki = await ensureClusterPki(join(spec.dir, 'pki'), spec.name, spec.serviceCidr);
  const p = (name: string) => join(pki.dir, name);
  const clients: KubeRestClient[] = [];
  const daemons: DaemonRecord[] = [];
  const launch = recordingLauncher(daemons, spec.onDaemonStarted);
  const log = (name: string) => join(logs, `${name}.log`);

  try {
    const apiserverPort = spec.apiserverPort ?? (await freePort());
    const [etcdClient, etcdPeer, kcmPort, schedulerPort, kwokPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    const etcdUrl = `https://127.0.0.1:${etcdClient}`;
    const server = `https://127.0.0.1:${apiserverPort}`;

    const etcd = launch(
      'etcd',
      bin.etcd,
      [
        `--name=${spec.name}`,
        `--data-dir=${join(spec.dir, 'etcd-data')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=${spec.name}=http://127.0.0.1:${etcdPeer}`,
        `--cert-file=${p('etcd-server.crt')}`,
        `--key-file=${p('etcd-server.key')}`,
        `--trusted-ca-file=${p('etcd-ca.crt')}`,
        '--client-cert-auth=true',
        '--quota-backend-bytes=2147483648',
        // The lab's data is disposable: skip fsync so a shared CI disk does not slow every write.
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
      log('etcd'),
      [etcdClient, etcdPeer],
    );
    const etcdTls = { caPem: pki.etcdCa.certPem, certPem: pki.apiserverEtcdClient.certPem, keyPem: pki.apiserverEtcdClient.keyPem };
    await usingClient(KubeRestClient.withCredentials(etcdUrl, etcdTls), (client) =>
      waitUntilReady(etcd, 'GET /health', async () => (await client.request('GET', '/health')).status === 200),
    );

    const issuer = `https://${spec.name}.lab.cluster-bridge.local`;
    const auditPolicy = join(spec.dir, 'audit-policy.yaml');
    writeFileSync(auditPolicy, AUDIT_POLICY);
    const apiserver = launch(
      'kube-apiserver',
      bin.kubeApiserver,
      [
        `--etcd-servers=${etcdUrl}`,
        `--etcd-cafile=${p('etcd-ca.crt')}`,
        `--etcd-certfile=${p('apiserver-etcd-client.crt')}`,
        `--etcd-keyfile=${p('apiserver-etcd-client.key')}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiserverPort}`,
        `--tls-cert-file=${p('apiserver.crt')}`,
        `--tls-private-key-file=${p('apiserver.key')}`,
        `--client-ca-file=${p('ca.crt')}`,
        `--service-account-issuer=${issuer}`,
        `--service-account-key-file=${p('sa.pub')}`,
        `--service-account-signing-key-file=${p('sa.key')}`,
        `--service-cluster-ip-range=${spec.serviceCidr}`,
        // The fake node's kubelet API is kwok's (exec, logs, attach, port-forward), verified by the cluster CA.
        `--kubelet-client-certificate=${p('apiserver-kubelet-client.crt')}`,
        `--kubelet-client-key=${p('apiserver-kubelet-client.key')}`,
        `--kubelet-certificate-authority=${p('ca.crt')}`,
        '--kubelet-preferred-address-types=InternalIP',
        // Webhooks and APIServices behind a Service are dialled at a ready endpoint (a pod on a real
        // node's bridge, which this host reaches), not at the ClusterIP: no kube-proxy routes this host's
        // own traffic, and the two clusters' ClusterIPs may be equal (lab/node/README.md).
        '--enable-aggregator-routing=true',
        '--authorization-mode=Node,RBAC',
        '--enable-admission-plugins=NodeRestriction',
        '--allow-privileged=true',
        `--audit-policy-file=${auditPolicy}`,
        `--audit-log-path=${join(logs, AUDIT_LOG_NAME)}`,
        '--audit-log-format=json',
        '--audit-log-maxsize=100',
        '--audit-log-maxbackup=1',
        '--profiling=false',
        '--v=1',
      ],
      log('kube-apiserver'),
      [apiserverPort],
    );
    const admin = KubeRestClient.withCredentials(server, adminTls(pki));
    clients.push(admin);
    await waitUntilReady(apiserver, 'GET /readyz', async () => (await admin.request('GET', '/readyz')).status === 200);

    const streaming = writeKubeletStreaming(spec.dir);
    const kcmKubeconfig = p('controller-manager.kubeconfig');
    const schedulerKubeconfig = p('scheduler.kubeconfig');
    const common = { clusterName: spec.name, server, caPem: pki.ca.certPem };
    writeKubeconfig(kcmKubeconfig, {
      ...common,
      userName: 'kcm',
      credentials: { clientCertPem: pki.controllerManager.certPem, clientKeyPem: pki.controllerManager.keyPem },
    });
    writeKubeconfig(schedulerKubeconfig, {
      ...common,
      userName: 'scheduler',
      credentials: { clientCertPem: pki.scheduler.certPem, clientKeyPem: pki.scheduler.keyPem },
    });
    writeKubeconfig(spec.adminKubeconfigPath, {
      ...common,
      userName: 'admin',
      credentials: { clientCertPem: pki.admin.certPem, clientKeyPem: pki.admin.keyPem },
    });

    const controllerManager = launch(
      'kube-controller-manager',
      bin.kubeControllerManager,
      [
        `--kubeconfig=${kcmKubeconfig}`,
        `--authentication-kubeconfig=${kcmKubeconfig}`,
        `--authorization-kubeconfig=${kcmKubeconfig}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${kcmPort}`,
        '--leader-elect=false',
        `--root-ca-file=${p('ca.crt')}`,
        `--service-account-private-key-file=${p('sa.key')}`,
        '--use-service-account-credentials=true',
        `--cluster-signing-cert-file=${p('ca.crt')}`,
        `--cluster-signing-key-file=${p('ca.key')}`,
        `--service-cluster-ip-range=${spec.serviceCidr}`,
        ...(spec.controllersFlag ? [spec.controllersFlag] : []),
        '--profiling=false',
        '--v=1',
      ],
      log('kube-controller-manager'),
      [kcmPort],
    );
    launch(
      'kube-scheduler',
      bin.kubeScheduler,
      [
        `--kubeconfig=${schedulerKubeconfig}`,
        `--authentication-kubeconfig=${schedulerKubeconfig}`,
        `--authorization-kubeconfig=${schedulerKubeconfig}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${schedulerPort}`,
        '--leader-elect=false',
        '--profiling=false',
        '--v=1',
      ],
      log('kube-scheduler'),
      [schedulerPort],
    );
    launch(
      'kwok',
      bin.kwok,
      [
        `--kubeconfig=${spec.adminKubeconfigPath}`,
        '--manage-all-nodes=false',
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        `--config=${bin.kwokStages}`,
        `--config=${streaming.configFile}`,
        '--node-ip=127.0.0.1',
        `--node-port=${kwokPort}`,
        `--tls-cert-file=${p('kubelet.crt')}`,
        `--tls-private-key-file=${p('kubelet.key')}`,
        '--node-lease-duration-seconds=40',
        `--server-address=127.0.0.1:${kwokPort}`,
      ],
      log('kwok'),
      [kwokPort],
    );

    await registerFakeNode(admin, kwokPort);
    // The `default` ServiceAccount appears once kube-controller-manager runs its controllers.
    await waitUntilReady(
      controllerManager,
      'default ServiceAccount created',
      async () => (await admin.request('GET', '/api/v1/namespaces/default/serviceaccounts/default')).status === 200,
    );
    for (const d of daemons) if (!isDaemonAlive(d)) throw failureFor(d, 'exited during start-up');
    return { name: spec.name, server, apiserverPort, serviceCidr: spec.serviceCidr, kubeconfig: spec.adminKubeconfigPath, daemons };
  } catch (err) {
    await Promise.all(daemons.map((d) => stopDaemon(d)));
    if (err instanceof BridgeError) throw err;
    throw new BridgeError('BRIDGE_ERR_LAB_START_FAILED', `${spec.name}: ${errorMessage(err)}`, { cause: err });
  } finally {
    for (const client of clients) client.close();
  }
}

/** A node that kwok keeps Ready, so the scheduler binds pods and kwok reports them Running. */
async function registerFakeNode(admin: KubeRestClient, kubeletPort: number): Promise<void> {
  const node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: LAB_NODE_NAME,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: { 'kubernetes.io/hostname': LAB_NODE_NAME, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok' },
    },
    status: { allocatable: { cpu: '32', memory: '256Gi', pods: '1000' }, capacity: { cpu: '32', memory: '256Gi', pods: '1000' } },
  };
  await admin.createOrReplace('/api/v1/nodes', LAB_NODE_NAME, ifAbsent(node));
  // kwok writes the kubelet port only when it first makes a node Ready; a node kept from an earlier
  // start (its data survives `lab down`) would point kube-apiserver at that start's port.
  const status = { status: { daemonEndpoints: { kubeletEndpoint: { Port: kubeletPort } } } };
  await admin.expect('PATCH', `/api/v1/nodes/${LAB_NODE_NAME}/status`, [200], status, { patchType: 'merge' });
}

export async function isApiserverReady(state: ControlPlaneState, pki: { caPem: string; certPem: string; keyPem: string }): Promise<boolean> {
  try {
    return await usingClient(
      KubeRestClient.withCredentials(state.server, pki),
      async (client) => (await client.request('GET', '/readyz', undefined, { timeoutMs: 2000 })).status === 200,
    );
  } catch {
    return false;
  }
}
