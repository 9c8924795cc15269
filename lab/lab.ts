/** `bridgectl lab up|down|status`: starting and stopping two independent control planes, source and destination. */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BridgeError } from '../lib/errors.js';
import { isPortBound } from './ports.js';
import { labDir } from '../lib/process/paths.js';
import { DESTINATION_CONTROLLERS_FLAG } from '../lib/mirror/workload-controllers.js';
import { ensureLabBinaries, type BuildReport } from './build.js';
import { uninstallComponents } from './install.js';
import { isApiserverReady, startControlPlane, type ClusterName, type ControlPlaneState } from './control-plane.js';
import { isDaemonAlive, stopDaemon } from './process.js';
import { prepareRealNodes, startRealNodes, stopRealNodes, type PreparedNodes } from './node/lab-nodes.js';
import { checkLabRequest, labDifferences, type LabRequest } from './lab-request.js';
import {
  adminCredentials,
  clearStartingDaemons,
  kubeconfigPath,
  LAB_LAYOUT,
  readLabState,
  readStartingDaemons,
  recordStartingDaemon,
  removeLabState,
  writeLabState,
  type LabState,
} from './lab-files.js';

export interface LabUpOptions {
  kubernetesVersion?: string;
  sourcePort?: number;
  destinationPort?: number;
  sourceServiceCidr?: string;
  destinationServiceCidr?: string;
  /** Also run a real node per cluster (lab/node/): kubelet, containerd and runc, pods in network namespaces. */
  realNode?: boolean;
  /** Stop a running lab that differs from this request instead of refusing. */
  replace?: boolean;
  progress?: (line: string) => void;
}

export interface LabUpResult {
  state: LabState;
  alreadyRunning: boolean;
  buildSeconds: number;
  startSeconds: number;
}

/** What is wrong with a lab's processes, one phrase each ([] when every daemon runs and both API servers are ready). */
async function labProblems(state: LabState): Promise<string[]> {
  const problems: string[] = [];
  for (const cluster of Object.values(state.clusters)) {
    const dead = [...cluster.daemons, ...(cluster.realNode?.daemons ?? [])].filter((d) => !isDaemonAlive(d)).map((d) => d.name);
    if (dead.length > 0) problems.push(`${cluster.name} ${dead.join(', ')} stopped`);
    else if (!(await isApiserverReady(cluster, adminCredentials(cluster.name)))) problems.push(`${cluster.name} kube-apiserver not ready`);
  }
  return problems;
}

export async function labUp(options: LabUpOptions = {}): Promise<LabUpResult> {
  const progress = options.progress ?? (() => {});
  const request = checkLabRequest(options);
  const leftovers = readStartingDaemons().filter(isDaemonAlive);
  if (leftovers.length > 0 && !readLabState()) {
    progress(`an interrupted \`lab up\` left ${leftovers.map((d) => `${d.name} (pid ${d.pid})`).join(', ')} running; stopping them`);
    await labDown();
  }
  const existing = readLabState();
  if (existing) {
    const problems = await labProblems(existing);
    const differences = labDifferences(existing, request);
    const what = `a ${existing.kubernetesVersion} lab is ${problems.length === 0 ? 'running' : `partly running (${problems.join('; ')})`}`;
    if (differences.length === 0 && problems.length === 0) return { state: existing, alreadyRunning: true, buildSeconds: 0, startSeconds: 0 };
    if (differences.length > 0 && !options.replace) {
      throw new BridgeError('BRIDGE_ERR_WOULD_REPLACE', `${what} and differs from this request: ${differences.join('; ')}`, {
        fix: 'pass --replace to stop it and start the requested lab, or run `bridgectl lab down` first',
      });
    }
    // Same request, broken lab: restarting it is what `lab up` is for; say exactly what was found.
    progress(differences.length > 0 ? `${what}; replacing it (--replace)` : `${what}; restarting it`);
    await labDown();
  }
  return startLab(request, progress);
}

/** A start that lost a picked port to another process is tried again with new ports, this many times in all. */
const START_ATTEMPTS = 3;

async function startLab(request: LabRequest, progress: (line: string) => void): Promise<LabUpResult> {
  // Ports the user chose are checked once and never retried: only ports the lab picked are its to change.
  await checkRequestedPorts([
    [request.sourcePort, 'source kube-apiserver (--source-port)'],
    [request.destinationPort, 'destination kube-apiserver (--destination-port)'],
  ]);
  const build = await ensureLabBinaries(request.kubernetesVersion, progress);
  const nodes = request.realNode ? await prepareRealNodes(request.kubernetesVersion, progress) : undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await startControlPlanes(request, build, progress, nodes);
      return { ...result, buildSeconds: result.buildSeconds + (nodes?.builtSeconds ?? 0) };
    } catch (err) {
      if (!(err instanceof BridgeError) || err.code !== 'BRIDGE_ERR_LAB_PORT_IN_USE' || attempt === START_ATTEMPTS) throw err;
      progress(`${err.message}; starting again with other ports`);
    }
  }
}

async function startControlPlanes(request: LabRequest, build: BuildReport, progress: (line: string) => void, nodes?: PreparedNodes): Promise<LabUpResult> {
  const version = request.kubernetesVersion;
  const started = Date.now();
  mkdirSync(labDir(), { recursive: true });
  progress(`starting source and destination control planes (Kubernetes ${version})`);
  const results = await Promise.allSettled(
    (['source', 'destination'] as const).map((name) =>
      startControlPlane(
        {
          name,
          dir: join(labDir(), name),
          serviceCidr: name === 'source' ? request.sourceServiceCidr : request.destinationServiceCidr,
          apiserverPort: name === 'source' ? request.sourcePort : request.destinationPort,
          // The destination is set up as a migration needs it: its workload controllers off (preflight checks this).
          controllersFlag: name === 'destination' ? DESTINATION_CONTROLLERS_FLAG : undefined,
          adminKubeconfigPath: kubeconfigPath(name),
          onDaemonStarted: recordStartingDaemon,
        },
        build.binaries,
      ),
    ),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    for (const r of results) if (r.status === 'fulfilled') await Promise.all(r.value.daemons.map((d) => stopDaemon(d)));
    clearStartingDaemons();
    throw failed.reason;
  }
  const [source, destination] = results.map((r) => (r as PromiseFulfilledResult<ControlPlaneState>).value) as [ControlPlaneState, ControlPlaneState];
  if (nodes) await addRealNodes({ source, destination }, nodes, progress);
  const state: LabState = { layout: LAB_LAYOUT, kubernetesVersion: version, startedAt: new Date().toISOString(), clusters: { source, destination } };
  writeLabState(state);
  clearStartingDaemons();
  return { state, alreadyRunning: false, buildSeconds: build.builtSeconds, startSeconds: (Date.now() - started) / 1000 };
}

/** Starts both real nodes into the clusters' state; on failure stops everything started and rethrows. */
async function addRealNodes(clusters: Record<ClusterName, ControlPlaneState>, nodes: PreparedNodes, progress: (line: string) => void): Promise<void> {
  try {
    const started = await startRealNodes(clusters, nodes, progress, recordStartingDaemon);
    clusters.source.realNode = started.source;
    clusters.destination.realNode = started.destination;
  } catch (err) {
    await stopRealNodes(clusters, readStartingDaemons());
    for (const cluster of Object.values(clusters)) await Promise.all(cluster.daemons.map((d) => stopDaemon(d)));
    clearStartingDaemons();
    throw err;
  }
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
  // Real nodes first: the kubelet must not outlive its API server, nor containers their node.
  stopped += await stopRealNodes(state?.clusters, readStartingDaemons());
  const ports: number[] = [];
  // What an interrupted `lab up` started (nothing, after a complete one: it clears the record).
  for (const daemon of readStartingDaemons().reverse()) {
    if (isDaemonAlive(daemon)) stopped++;
    await stopDaemon(daemon);
    ports.push(...daemon.ports);
  }
  clearStartingDaemons();
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
    removeLabState();
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
      daemons: [...c.daemons, ...(c.realNode?.daemons ?? [])].map((d) => ({ name: d.name, pid: d.pid, alive: isDaemonAlive(d) })),
    })),
  );
  return { running: clusters.every((c) => c.ready && c.daemons.every((d) => d.alive)), kubernetesVersion: state.kubernetesVersion, clusters };
}
