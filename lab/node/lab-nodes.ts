/** `lab up --real-node` and `lab down` for both clusters' real nodes: what lab.ts calls. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { labDir } from '../../lib/process/paths.js';
import type { ClusterName, ControlPlaneState } from '../control-plane.js';
import { adminCredentials } from '../lab-files.js';
import type { DaemonRecord } from '../process.js';
import { ensureNodeBinaries } from './build.js';
import { ensureNodePackages } from './host-packages.js';
import { ensureNodeImages } from './images.js';
import { pickPodSubnet, routeTable } from './pod-network.js';
import { realNodePaths, startRealNode, stopRealNode, type RealNodeState } from './real-node.js';

const CLUSTERS: readonly ClusterName[] = ['source', 'destination'];

/** Packages, kubelet and images, before any control plane starts; returns the seconds spent building. */
export async function prepareRealNodes(version: string, progress: (line: string) => void) {
  await ensureNodePackages(progress);
  const { binaries, builtSeconds } = await ensureNodeBinaries(version, progress);
  const images = await ensureNodeImages(binaries.toolsDir, binaries);
  return { binaries, images, builtSeconds };
}

export type PreparedNodes = Awaited<ReturnType<typeof prepareRealNodes>>;

/** One node per cluster, one after the other (each picks a pod range the other's bridge now holds). */
export async function startRealNodes(
  clusters: Record<ClusterName, ControlPlaneState>,
  prepared: PreparedNodes,
  progress: (line: string) => void,
  onDaemonStarted: (daemon: DaemonRecord) => void,
): Promise<Record<ClusterName, RealNodeState>> {
  const nodes: Partial<Record<ClusterName, RealNodeState>> = {};
  for (const name of CLUSTERS) {
    const cluster = clusters[name];
    const podSubnet = pickPodSubnet(await routeTable());
    progress(`starting the ${name} real node (pods in ${podSubnet.cidr})`);
    const node = await startRealNode({
      labDir: labDir(),
      cluster: name,
      clusterDir: join(labDir(), name),
      server: cluster.server,
      apiserverPort: cluster.apiserverPort,
      serviceCidr: cluster.serviceCidr,
      adminKubeconfig: cluster.kubeconfig,
      admin: adminCredentials(name),
      podSubnet,
      binaries: prepared.binaries,
      images: prepared.images,
      onDaemonStarted,
    });
    progress(`  ${name} node ${node.name} Ready in ${node.readySeconds.toFixed(1)} s`);
    nodes[name] = node;
  }
  return nodes as Record<ClusterName, RealNodeState>;
}

/**
 * Stops both clusters' real nodes: those in the lab state, and any a `lab up` left half-started (its
 * folder exists), found by their folder and names alone. Returns how many processes it stopped.
 */
export async function stopRealNodes(clusters: Partial<Record<ClusterName, ControlPlaneState>> | undefined, starting: readonly DaemonRecord[]): Promise<number> {
  let stopped = 0;
  for (const name of CLUSTERS) {
    const clusterDir = join(labDir(), name);
    const recorded = clusters?.[name]?.realNode?.daemons ?? [];
    if (recorded.length === 0 && !existsSync(realNodePaths(labDir(), name, clusterDir).dir)) continue;
    // A half-started node's daemons are among the starting ones; they carry no cluster, so give each node all of them.
    stopped += await stopRealNode(labDir(), name, clusterDir, [...recorded, ...starting.filter((d) => d.logFile.startsWith(`${clusterDir}/`))]);
  }
  return stopped;
}
