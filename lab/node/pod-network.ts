/**
 * The real node's pod network: a Linux bridge the lab creates with the first address of a /24 it
 * picks from 10.244.0.0/16 (one no route on this host uses yet), the CNI config that puts each pod's
 * network namespace on it (Debian's bridge, host-local and portmap plugins), and the names every
 * node-scoped host object gets. Nothing is forwarded off the host: ip_forward stays as it is, there is
 * no masquerade, and pods reach the host only at the bridge's own address.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { BridgeError, errorMessage } from '../../lib/errors.js';

const execFileAsync = promisify(execFile);

export interface NodeHostNames {
  /** Linux bridge (at most 15 characters). */
  bridge: string;
  /** iptables nat chain for the node's Service routes. */
  chain: string;
  /** The kubelet's cgroup root, under each cgroup v1 hierarchy. */
  cgroupRoot: string;
}

/** Host-wide names of one lab cluster's node, derived from the lab folder so two worktrees never collide. */
export function nodeHostNames(labDir: string, cluster: string): NodeHostNames {
  const id = createHash('sha256').update(labDir).digest('hex').slice(0, 6);
  const c = cluster.slice(0, 1);
  return { bridge: `cb${id}${c}`, chain: `CB-${id}-${c}`, cgroupRoot: `/cluster-bridge-${id}-${cluster}` };
}

export interface PodSubnet {
  /** e.g. 10.244.7.0/24 */
  cidr: string;
  /** The bridge's address, the pods' gateway, the node's InternalIP and the pods' DNS server: 10.244.7.1 */
  gateway: string;
}

/** The first 10.244.N.0/24 that no line of `ip -4 route` output mentions and that is not in `taken`. */
export function pickPodSubnet(routeTable: string, taken: readonly string[] = []): PodSubnet {
  const used = new Set(taken);
  for (const m of routeTable.matchAll(/\b10\.244\.(\d+)\./g)) used.add(`10.244.${m[1]}.0/24`);
  for (let n = 1; n < 255; n++) {
    const cidr = `10.244.${n}.0/24`;
    if (!used.has(cidr)) return { cidr, gateway: `10.244.${n}.1` };
  }
  throw new BridgeError('BRIDGE_ERR_LAB_START_FAILED', 'every 10.244.N.0/24 pod range is in use on this host', { fix: 'stop other labs with real nodes' });
}

export function renderCniConfig(bridge: string, subnet: PodSubnet, ipamDataDir: string): string {
  return JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: 'cluster-bridge-lab',
      plugins: [
        {
          type: 'bridge',
          bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: subnet.cidr, gateway: subnet.gateway }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: ipamDataDir },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

export async function run(cmd: string, args: string[]): Promise<string> {
  try {
    return (await execFileAsync(cmd, args)).stdout;
  } catch (err) {
    const e = err as { stderr?: string };
    throw new BridgeError('BRIDGE_ERR_LAB_START_FAILED', `${cmd} ${args.join(' ')} failed: ${(e.stderr ?? errorMessage(err)).trim()}`, { cause: err });
  }
}

export async function routeTable(): Promise<string> {
  return run('ip', ['-4', 'route', 'show']);
}

/** Creates the bridge with the gateway address (CNI's bridge plugin then reuses it). */
export async function createBridge(bridge: string, subnet: PodSubnet): Promise<void> {
  await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
  await run('ip', ['addr', 'add', `${subnet.gateway}/24`, 'dev', bridge]);
  await run('ip', ['link', 'set', bridge, 'up']);
}

/** Removes the bridge if it exists; true when it did. */
export async function deleteBridge(bridge: string): Promise<boolean> {
  try {
    await execFileAsync('ip', ['link', 'del', bridge]);
    return true;
  } catch {
    return false;
  }
}
