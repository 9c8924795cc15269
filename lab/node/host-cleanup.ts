/**
 * Removes what a real node left on the host, found only by its own names and paths, never by a
 * process name: the processes in its cgroups (containers and pause), containerd shims whose command
 * line names its containerd socket, mounts under its folder (rootfs overlays, network namespaces,
 * volumes), its cgroups, its bridge and its iptables chain. Safe to run on a node that never started.
 */
import { existsSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { deleteBridge, type NodeHostNames } from './pod-network.js';
import { removeServiceRoutes } from './service-routes.js';

const execFileAsync = promisify(execFile);
const CGROUP_V1 = '/sys/fs/cgroup';

/**
 * The cgroup hierarchies the node's cgroups live in: the v1 ones, where the kubelet needs its root to
 * exist, and (withUnified) the `unified` v2 mount of a hybrid host, where runc also puts each container.
 */
export function cgroupHierarchies(withUnified = false): string[] {
  if (!existsSync(CGROUP_V1)) return [];
  return readdirSync(CGROUP_V1)
    .filter((name) => (withUnified || name !== 'unified') && existsSync(join(CGROUP_V1, name, 'cgroup.procs')))
    .map((name) => join(CGROUP_V1, name));
}

/** Every folder under `root`, deepest first. */
function subtree(root: string): string[] {
  if (!existsSync(root)) return [];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) walk(join(dir, entry.name));
    out.push(dir);
  };
  walk(root);
  return out;
}

function pidsIn(cgroupDir: string): number[] {
  try {
    return readFileSync(join(cgroupDir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Kills every process in the node's cgroups and removes the cgroups (a cgroup with a zombie needs a moment). */
export async function removeNodeCgroups(cgroupRoot: string): Promise<void> {
  const roots = cgroupHierarchies(true).map((h) => join(h, cgroupRoot));
  for (let attempt = 0; attempt < 50; attempt++) {
    let left = 0;
    for (const dir of roots.flatMap(subtree)) {
      const pids = pidsIn(dir);
      pids.forEach(kill);
      try {
        if (pids.length === 0) rmdirSync(dir);
        else left++;
      } catch {
        left++;
      }
    }
    if (left === 0) return;
    await sleep(100);
  }
}

/** Pids whose command line carries `-address <socket>`: the shims of the node's containerd. */
export function shimPids(socket: string): number[] {
  const pids: number[] = [];
  for (const entry of existsSync('/proc') ? readdirSync('/proc') : []) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const i = argv.indexOf('-address');
      if (i >= 0 && argv[i + 1] === socket) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** Mount points at or under `dir`, deepest first (from /proc/self/mountinfo; octal escapes decoded). */
export function mountsUnder(dir: string, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string[] {
  const decode = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return mountinfo
    .split('\n')
    .map((line) => decode(line.split(' ')[4] ?? ''))
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

export async function unmountUnder(dir: string): Promise<void> {
  for (const point of mountsUnder(dir)) {
    // Lazy: a namespace file still held by a dying process must not stop the rest.
    await execFileAsync('umount', ['-l', point]).catch(() => undefined);
  }
}

export interface NodeLeftovers {
  dir: string;
  containerdSocket: string;
  names: NodeHostNames;
}

/** Everything but the daemons themselves (the caller stops those by pid first). */
export async function removeNodeLeftovers(node: NodeLeftovers): Promise<void> {
  await removeNodeCgroups(node.names.cgroupRoot);
  shimPids(node.containerdSocket).forEach(kill);
  if (existsSync(node.dir) && statSync(node.dir).isDirectory()) await unmountUnder(node.dir);
  await removeServiceRoutes(node.names.bridge, node.names.chain);
  await deleteBridge(node.names.bridge);
}
