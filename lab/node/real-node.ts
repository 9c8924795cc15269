/**
 * A real node for one lab cluster (`lab up --real-node`): its own containerd (Debian's, with runc),
 * the kubelet built from the control plane's module, pods on a bridge the lab creates, the `kubernetes`
 * Service routed to the API server and a DNS stand-in. Start order and the one stop that undoes it all.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BridgeError } from '../../lib/errors.js';
import { KubeRestClient, usingClient, type TlsCredentials } from '../../lib/kube/rest-client.js';
import { writeKubeconfig } from '../kubeconfig.js';
import { freePort } from '../ports.js';
import { waitUntil } from '../../lib/wait-until.js';
import { firstServiceIp } from '../cluster-pki.js';
import { isDaemonAlive, logTail, recordingLauncher, stopDaemon, type DaemonRecord } from '../process.js';
import type { NodeBinaries } from './build.js';
import { renderContainerdConfig } from './containerd-config.js';
import { cgroupHierarchies, removeNodeLeftovers } from './host-cleanup.js';
import { PAUSE_IMAGE, type ImageArchive } from './images.js';
import { issueKubeletCertificates, REAL_NODE_NAME, renderKubeletConfig } from './kubelet-config.js';
import { createBridge, nodeHostNames, renderCniConfig, type NodeHostNames, type PodSubnet } from './pod-network.js';
import { addServiceRoutes } from './service-routes.js';

const execFileAsync = promisify(execFile);
const READY_TIMEOUT_MS = 120_000;
const DNS_PORT = 53;

export interface RealNodeState {
  name: string;
  dir: string;
  podSubnet: PodSubnet;
  names: NodeHostNames;
  containerdSocket: string;
  kubeletPort: number;
  daemons: DaemonRecord[];
  /** Seconds from starting containerd to the Node's Ready condition. */
  readySeconds: number;
}

export interface RealNodeSpec {
  labDir: string;
  cluster: string;
  /** The cluster's folder (.lab/<cluster>): pki/ and logs/ are there; the node's folder is node/. */
  clusterDir: string;
  server: string;
  apiserverPort: number;
  serviceCidr: string;
  adminKubeconfig: string;
  admin: TlsCredentials;
  podSubnet: PodSubnet;
  binaries: NodeBinaries;
  images: ImageArchive[];
  onDaemonStarted?: (daemon: DaemonRecord) => void;
}

/** Where a cluster's node lives; derivable without the lab state, so an interrupted start is cleaned up too. */
export function realNodePaths(labDir: string, cluster: string, clusterDir: string) {
  const dir = join(clusterDir, 'node');
  return { dir, containerdSocket: join(dir, 'containerd.sock'), names: nodeHostNames(labDir, cluster) };
}

function makeCgroupRoot(cgroupRoot: string): void {
  for (const hierarchy of cgroupHierarchies()) {
    const dir = join(hierarchy, cgroupRoot);
    mkdirSync(dir, { recursive: true });
    // A new cpuset cgroup starts with no CPUs and no memory nodes; give it its parent's.
    if (hierarchy.endsWith('/cpuset')) {
      for (const file of ['cpuset.cpus', 'cpuset.mems']) writeFileSync(join(dir, file), readFileSync(join(hierarchy, file)));
    }
  }
}

function startFailure(daemon: DaemonRecord, what: string): BridgeError {
  const last =
    logTail(daemon.logFile, 40)
      .split('\n')
      .filter((l) => /^[EF]\d{4}|level=(error|fatal)/.test(l))
      .slice(-1)[0] ?? logTail(daemon.logFile, 1);
  return new BridgeError('BRIDGE_ERR_LAB_START_FAILED', `real node: ${daemon.name} ${what}: ${last.slice(0, 400)}`, { fix: `read ${daemon.logFile}` });
}

async function ctr(socket: string, args: string[]): Promise<string> {
  return (await execFileAsync('ctr', ['--address', socket, '--namespace', 'k8s.io', ...args])).stdout;
}

/** The CRI plugin's status column in `ctr plugins ls` (ok, error, skip), or undefined when not listed. */
export function criPluginStatus(pluginList: string): string | undefined {
  return /^io\.containerd\.grpc\.v1\s+cri\s+\S+\s+(\S+)/m.exec(pluginList)?.[1];
}

/**
 * Each kubelet and containerd holds several inotify instances; the kernel's default of 128 per user
 * is shared by every root process on the host (other labs' controller-managers too), and containerd's
 * CRI plugin fails with "too many open files" when none is left.
 */
const INOTIFY_INSTANCES = '/proc/sys/fs/inotify/max_user_instances';
const MIN_INOTIFY_INSTANCES = 1024;

function raiseInotifyInstances(): void {
  if (Number(readFileSync(INOTIFY_INSTANCES, 'utf8')) < MIN_INOTIFY_INSTANCES) writeFileSync(INOTIFY_INSTANCES, String(MIN_INOTIFY_INSTANCES));
}

async function nodeReady(client: KubeRestClient): Promise<boolean> {
  const res = await client.request<{ status?: { conditions?: { type: string; status: string }[] } }>('GET', `/api/v1/nodes/${REAL_NODE_NAME}`);
  return res.status === 200 && (res.body?.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

export async function startRealNode(spec: RealNodeSpec): Promise<RealNodeState> {
  const { dir, containerdSocket, names } = realNodePaths(spec.labDir, spec.cluster, spec.clusterDir);
  const logs = join(spec.clusterDir, 'logs');
  const pki = join(spec.clusterDir, 'pki');
  await removeNodeLeftovers({ dir, containerdSocket, names });
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'cni'), { recursive: true });
  mkdirSync(logs, { recursive: true });
  const daemons: DaemonRecord[] = [];
  const launch = recordingLauncher(daemons, spec.onDaemonStarted);
  const started = Date.now();

  raiseInotifyInstances();
  makeCgroupRoot(names.cgroupRoot);
  await createBridge(names.bridge, spec.podSubnet);
  // The kubernetes Service from the start; node-services adds the others as they appear.
  const apiRoute = { clusterIp: firstServiceIp(spec.serviceCidr), port: 443, protocol: 'TCP', targets: [`127.0.0.1:${spec.apiserverPort}`] };
  await addServiceRoutes(names.bridge, names.chain, [apiRoute]);
  writeFileSync(join(dir, 'cni', '10-lab.conflist'), renderCniConfig(names.bridge, spec.podSubnet, join(dir, 'cni-ipam')));
  const containerdConfig = join(dir, 'containerd.toml');
  writeFileSync(containerdConfig, renderContainerdConfig({ dir, socket: containerdSocket, cniConfDir: join(dir, 'cni'), sandboxImage: PAUSE_IMAGE }));

  const containerd = launch('containerd', '/usr/bin/containerd', ['--config', containerdConfig], join(logs, 'containerd.log'), []);
  // The kubelet needs the CRI plugin, which fails alone (containerd itself keeps running) when it cannot start.
  const cri = await waitUntil(
    'containerd to answer',
    async () => existsSync(containerdSocket) && criPluginStatus(await ctr(containerdSocket, ['plugins', 'ls'])),
    {
      timeoutMs: 30_000,
      abandon: () => (isDaemonAlive(containerd) ? undefined : 'it exited'),
      failure: () => startFailure(containerd, 'did not start'),
    },
  );
  if (cri !== 'ok') throw startFailure(containerd, `has no CRI service (plugin io.containerd.grpc.v1.cri: ${cri})`);
  for (const image of spec.images) await ctr(containerdSocket, ['images', 'import', image.file]);

  // Pods resolve Service names on the bridge address (port 53 there is this node's alone); the same
  // daemon keeps the node's Service chain in step with the cluster.
  const servicesMain = fileURLToPath(new URL('./node-services-main.js', import.meta.url));
  launch(
    'node-services',
    process.execPath,
    [servicesMain, spec.podSubnet.gateway, String(DNS_PORT), spec.adminKubeconfig, names.chain, String(spec.apiserverPort)],
    join(logs, 'node-services.log'),
    [],
  );

  const certs = await issueKubeletCertificates(pki, spec.podSubnet.gateway);
  const secretFile = (name: string, pem: string) => {
    writeFileSync(join(dir, name), pem, { mode: 0o600 });
    return join(dir, name);
  };
  const kubeletKubeconfig = join(dir, 'kubelet.kubeconfig');
  writeKubeconfig(kubeletKubeconfig, {
    clusterName: spec.cluster,
    server: spec.server,
    caPem: spec.admin.caPem,
    userName: `system:node:${REAL_NODE_NAME}`,
    credentials: { clientCertPem: certs.client.certPem, clientKeyPem: certs.client.keyPem },
  });
  const [kubeletPort, healthzPort] = await Promise.all([freePort(), freePort()]);
  const kubeletConfig = join(dir, 'kubelet.yaml');
  writeFileSync(
    kubeletConfig,
    renderKubeletConfig({
      nodeIp: spec.podSubnet.gateway,
      port: kubeletPort,
      healthzPort,
      cgroupRoot: names.cgroupRoot,
      containerdSocket,
      clientCaFile: join(pki, 'ca.crt'),
      tlsCertFile: secretFile('kubelet-serving.crt', certs.serving.certPem),
      tlsKeyFile: secretFile('kubelet-serving.key', certs.serving.keyPem),
      clusterDns: spec.podSubnet.gateway,
      resolvConf: '',
      podLogsDir: join(dir, 'pod-logs'),
    }),
  );
  const kubelet = launch(
    'kubelet',
    spec.binaries.kubelet,
    [
      `--config=${kubeletConfig}`,
      `--kubeconfig=${kubeletKubeconfig}`,
      `--root-dir=${join(dir, 'kubelet')}`,
      `--cert-dir=${join(dir, 'kubelet-pki')}`,
      `--hostname-override=${REAL_NODE_NAME}`,
      `--node-ip=${spec.podSubnet.gateway}`,
      '--v=1',
    ],
    join(logs, 'kubelet.log'),
    [kubeletPort, healthzPort],
  );
  await usingClient(KubeRestClient.withCredentials(spec.server, spec.admin), (client) =>
    waitUntil(`node ${REAL_NODE_NAME} to be Ready`, () => nodeReady(client), {
      timeoutMs: READY_TIMEOUT_MS,
      intervalMs: 200,
      abandon: () => daemons.map((d) => (isDaemonAlive(d) ? undefined : `${d.name} exited`)).find(Boolean),
      failure: () => startFailure(daemons.find((d) => !isDaemonAlive(d)) ?? kubelet, 'did not make the node Ready'),
    }),
  );
  return {
    name: REAL_NODE_NAME,
    dir,
    podSubnet: spec.podSubnet,
    names,
    containerdSocket,
    kubeletPort,
    daemons,
    readySeconds: (Date.now() - started) / 1000,
  };
}

/**
 * Stops the node's daemons (the kubelet first, so it restarts nothing), then removes its containers,
 * mounts, cgroups, bridge and routes, and its folder (logs stay in the cluster's logs/).
 */
export async function stopRealNode(labDir: string, cluster: string, clusterDir: string, daemons: readonly DaemonRecord[]): Promise<number> {
  const paths = realNodePaths(labDir, cluster, clusterDir);
  let stopped = 0;
  for (const name of ['kubelet', 'node-services', 'containerd']) {
    for (const daemon of daemons.filter((d) => d.name === name)) {
      if (isDaemonAlive(daemon)) stopped++;
      await stopDaemon(daemon);
    }
  }
  await removeNodeLeftovers(paths);
  rmSync(paths.dir, { recursive: true, force: true });
  return stopped;
}
