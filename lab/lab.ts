/** `bridgectl lab up|down|status`: two independent control planes, source and destination. */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BridgeError } from '../lib/errors.js';
import { isPortBound } from '../lib/ports.js';
import { labDir } from '../lib/paths.js';
import { ensureLabBinaries } from './build.js';
import { uninstallComponents } from './install.js';
import { isApiserverReady, startControlPlane, type ClusterName, type ControlPlaneState } from './control-plane.js';
import { isDaemonAlive, stopDaemon } from './process.js';
import { DEFAULT_KUBERNETES_VERSION } from './versions.js';

export const DEFAULT_SERVICE_CIDR = '10.96.0.0/16';

export interface LabState {
  kubernetesVersion: string;
  startedAt: string;
  clusters: Record<ClusterName, ControlPlaneState>;
}

export interface LabUpOptions {
  kubernetesVersion?: string;
  sourcePort?: number;
  destinationPort?: number;
  sourceServiceCidr?: string;
  destinationServiceCidr?: string;
  progress?: (line: string) => void;
}

export interface LabUpResult {
  state: LabState;
  alreadyRunning: boolean;
  buildSeconds: number;
  startSeconds: number;
}

const statePath = () => join(labDir(), 'state.json');
export const kubeconfigPath = (cluster: ClusterName) => join(labDir(), `${cluster}.kubeconfig`);

export function readLabState(): LabState | undefined {
  if (!existsSync(statePath())) return undefined;
  return JSON.parse(readFileSync(statePath(), 'utf8')) as LabState;
}

function writeLabState(state: LabState): void {
  const tmp = `${statePath()}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2));
  renameSync(tmp, statePath());
}

function adminCredentials(cluster: ClusterName) {
  const pki = join(labDir(), cluster, 'pki');
  return {
    caPem: readFileSync(join(pki, 'ca.crt'), 'utf8'),
    certPem: readFileSync(join(pki, 'admin.crt'), 'utf8'),
    keyPem: readFileSync(join(pki, 'admin.key'), 'utf8'),
  };
}

async function isLabHealthy(state: LabState): Promise<boolean> {
  for (const cluster of Object.values(state.clusters)) {
    if (!cluster.daemons.every(isDaemonAlive)) return false;
    if (!(await isApiserverReady(cluster, adminCredentials(cluster.name)))) return false;
  }
  return true;
}

export async function labUp(options: LabUpOptions = {}): Promise<LabUpResult> {
  const progress = options.progress ?? (() => {});
  const version = options.kubernetesVersion ?? DEFAULT_KUBERNETES_VERSION;
  const existing = readLabState();
  if (existing) {
    if (existing.kubernetesVersion === version && (await isLabHealthy(existing))) {
      return { state: existing, alreadyRunning: true, buildSeconds: 0, startSeconds: 0 };
    }
    progress('a previous lab is partly running; stopping it first');
    await labDown();
  }
  await checkRequestedPorts([
    [options.sourcePort, 'source kube-apiserver (--source-port)'],
    [options.destinationPort, 'destination kube-apiserver (--destination-port)'],
  ]);
  const build = await ensureLabBinaries(version, progress);
  const started = Date.now();
  mkdirSync(labDir(), { recursive: true });
  progress(`starting source and destination control planes (Kubernetes ${version})`);
  const results = await Promise.allSettled(
    (['source', 'destination'] as const).map((name) =>
      startControlPlane(
        {
          name,
          dir: join(labDir(), name),
          serviceCidr: (name === 'source' ? options.sourceServiceCidr : options.destinationServiceCidr) ?? DEFAULT_SERVICE_CIDR,
          apiserverPort: name === 'source' ? options.sourcePort : options.destinationPort,
          adminKubeconfigPath: kubeconfigPath(name),
        },
        build.binaries,
      ),
    ),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    for (const r of results) if (r.status === 'fulfilled') await Promise.all(r.value.daemons.map((d) => stopDaemon(d)));
    throw failed.reason;
  }
  const [source, destination] = results.map((r) => (r as PromiseFulfilledResult<ControlPlaneState>).value) as [ControlPlaneState, ControlPlaneState];
  const state: LabState = { kubernetesVersion: version, startedAt: new Date().toISOString(), clusters: { source, destination } };
  writeLabState(state);
  return { state, alreadyRunning: false, buildSeconds: build.builtSeconds, startSeconds: (Date.now() - started) / 1000 };
}

async function checkRequestedPorts(requests: [number | undefined, string][]): Promise<void> {
  for (const [port, what] of requests) {
    if (port !== undefined && (await isPortBound(port))) {
      throw new BridgeError('BRIDGE_ERR_LAB_PORT_IN_USE', `port ${port} on 127.0.0.1 for the ${what} is already in use by another process`, {
        fix: 'stop that process, choose another port, or omit the flag to get a free port',
      });
    }
  }
}

export interface LabDownResult {
  stopped: number;
  portsStillBound: number[];
}

export async function labDown(options: { purge?: boolean } = {}): Promise<LabDownResult> {
  const state = readLabState();
  let stopped = await uninstallComponents();
  const ports: number[] = [];
  if (state) {
    // Stop the clients of etcd first and etcd last, so nothing logs a storm of connection errors.
    for (const cluster of Object.values(state.clusters)) {
      const order = [...cluster.daemons].reverse();
      for (const daemon of order) {
        if (isDaemonAlive(daemon)) stopped++;
        await stopDaemon(daemon);
        ports.push(...daemon.ports);
      }
    }
    rmSync(statePath(), { force: true });
  }
  if (options.purge) rmSync(labDir(), { recursive: true, force: true });
  const portsStillBound: number[] = [];
  for (const port of ports) if (await isPortBound(port)) portsStillBound.push(port);
  return { stopped, portsStillBound };
}

export interface LabStatus {
  running: boolean;
  kubernetesVersion?: string;
  clusters: { name: ClusterName; server: string; ready: boolean; kubeconfig: string; daemons: { name: string; pid: number; alive: boolean }[] }[];
}

export async function labStatus(): Promise<LabStatus> {
  const state = readLabState();
  if (!state) return { running: false, clusters: [] };
  const clusters = await Promise.all(
    Object.values(state.clusters).map(async (c) => ({
      name: c.name,
      server: c.server,
      kubeconfig: c.kubeconfig,
      ready: await isApiserverReady(c, adminCredentials(c.name)),
      daemons: c.daemons.map((d) => ({ name: d.name, pid: d.pid, alive: isDaemonAlive(d) })),
    })),
  );
  return { running: clusters.every((c) => c.ready && c.daemons.every((d) => d.alive)), kubernetesVersion: state.kubernetesVersion, clusters };
}

export function requireLab(): LabState {
  const state = readLabState();
  if (!state) throw new BridgeError('BRIDGE_ERR_LAB_NOT_RUNNING', 'the lab is not running', { fix: 'run `bridgectl lab up`' });
  return state;
}
