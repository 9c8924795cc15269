/**
 * Services for pods on the real node, kube-proxy's job done in chains of the node's own (kube-proxy's
 * chains are host-global: two of them on one host would rewrite each other's rules; ADR 0020).
 * - nat `<chain>`, jumped to from PREROUTING for packets entering on the node's bridge only: one DNAT
 *   per Service port to its ready endpoints (random spread as kube-proxy does). The `kubernetes`
 *   Service has no endpoint (the lab's API servers advertise 127.0.0.1, which kube-apiserver does not
 *   publish), so it goes to 127.0.0.1:<apiserver port>, with route_localnet on the bridge alone.
 * - nat POSTROUTING: a pod reaching a Service whose endpoint is on the same bridge is masqueraded to the
 *   bridge address, so the reply comes back through the host and is un-DNATed (no br_netfilter).
 * - filter `<chain>`, jumped to from FORWARD for packets from the bridge: back onto the bridge only.
 *   Forwarding is switched on for the bridge alone, so pods reach nothing off the host.
 */
import { execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { BridgeError } from '../../lib/errors.js';
import { run } from './pod-network.js';

const execFileAsync = promisify(execFile);

export interface ServiceRoute {
  clusterIp: string;
  port: number;
  protocol: string;
  /** `ip:port` of each ready endpoint. */
  targets: string[];
}

export interface ServiceObject {
  metadata: { name: string; namespace: string };
  spec?: { clusterIP?: string; ports?: { name?: string; port: number; protocol?: string }[] };
}

export interface EndpointSliceObject {
  metadata: { namespace: string; labels?: Record<string, string> };
  addressType?: string;
  ports?: { name?: string; port?: number; protocol?: string }[] | null;
  endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[] | null;
}

/** Every ClusterIP Service port with its ready endpoints; `kubernetes` to the loopback API server. */
export function serviceRoutes(services: readonly ServiceObject[], slices: readonly EndpointSliceObject[], apiserverPort: number): ServiceRoute[] {
  const routes: ServiceRoute[] = [];
  for (const svc of services) {
    const ip = svc.spec?.clusterIP;
    if (!ip || ip === 'None') continue;
    const { name, namespace } = svc.metadata;
    const own = slices.filter(
      (s) => s.metadata.namespace === namespace && s.metadata.labels?.['kubernetes.io/service-name'] === name && s.addressType !== 'IPv6',
    );
    for (const port of svc.spec?.ports ?? []) {
      const protocol = port.protocol ?? 'TCP';
      let targets: string[];
      if (namespace === 'default' && name === 'kubernetes') targets = [`127.0.0.1:${apiserverPort}`];
      else {
        targets = own.flatMap((slice) => {
          const target = (slice.ports ?? []).find((p) => (p.name ?? '') === (port.name ?? '') && (p.protocol ?? 'TCP') === protocol)?.port;
          if (target === undefined) return [];
          return (slice.endpoints ?? []).filter((e) => e.conditions?.ready !== false).flatMap((e) => e.addresses.map((a) => `${a}:${target}`));
        });
      }
      routes.push({ clusterIp: ip, port: port.port, protocol, targets: [...new Set(targets)].sort() });
    }
  }
  return routes.sort((a, b) => `${a.clusterIp}:${a.port}`.localeCompare(`${b.clusterIp}:${b.port}`));
}

/** The iptables-restore input that replaces the node's nat chain with `routes` (and nothing else). */
export function renderServiceChain(chain: string, routes: readonly ServiceRoute[]): string {
  const lines = ['*nat', `:${chain} - [0:0]`];
  for (const r of routes) {
    const match = `-A ${chain} -d ${r.clusterIp}/32 -p ${r.protocol.toLowerCase()} --dport ${r.port}`;
    if (r.targets.length === 0) {
      // No endpoint: refuse at once rather than let the packet wander to the host.
      lines.push(`${match} -j DNAT --to-destination 127.0.0.1:1`);
      continue;
    }
    r.targets.forEach((target, i) => {
      const left = r.targets.length - i;
      const spread = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(5)}` : '';
      lines.push(`${match}${spread} -j DNAT --to-destination ${target}`);
    });
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}

const MASQUERADE_RULE = (bridge: string) => ['-t', 'nat', '-A', 'POSTROUTING', '-o', bridge, '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'MASQUERADE'];

/** The fixed rules (iptables argument lists) that send the bridge's traffic through the node's chains. */
export function serviceRouteJumps(bridge: string, chain: string): string[][] {
  return [
    ['-t', 'nat', '-A', 'PREROUTING', '-i', bridge, '-j', chain],
    MASQUERADE_RULE(bridge),
    ['-t', 'filter', '-A', chain, '-o', bridge, '-j', 'ACCEPT'],
    ['-t', 'filter', '-A', chain, '-j', 'DROP'],
    ['-t', 'filter', '-I', 'FORWARD', '-i', bridge, '-j', chain],
  ];
}

export async function applyServiceChain(chain: string, routes: readonly ServiceRoute[]): Promise<void> {
  const input = renderServiceChain(chain, routes);
  await new Promise<void>((resolve, reject) => {
    const child = spawn('iptables-restore', ['-w', '--noflush'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new BridgeError('BRIDGE_ERR_LAB_START_FAILED', `iptables-restore of chain ${chain} failed: ${stderr.trim()}`)),
    );
    child.stdin.end(input);
  });
}

/** Sets the node's chains up with the `kubernetes` route only; node-services keeps them in sync after. */
export async function addServiceRoutes(bridge: string, chain: string, initial: readonly ServiceRoute[]): Promise<void> {
  await removeServiceRoutes(bridge, chain);
  // Without it the kernel drops packets from the bridge addressed to 127.0.0.0/8 as martians.
  writeFileSync(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`, '1');
  writeFileSync(`/proc/sys/net/ipv4/conf/${bridge}/forwarding`, '1');
  await run('iptables', ['-w', '-t', 'filter', '-N', chain]);
  await applyServiceChain(chain, initial);
  for (const rule of serviceRouteJumps(bridge, chain)) await run('iptables', ['-w', ...rule]);
}

/** Removes the jumps and both chains, whatever is left of them (quietly: absent is fine). */
export async function removeServiceRoutes(bridge: string, chain: string): Promise<void> {
  const quiet = (args: string[]) =>
    execFileAsync('iptables', ['-w', ...args]).then(
      () => true,
      () => false,
    );
  while (await quiet(['-t', 'nat', '-D', 'PREROUTING', '-i', bridge, '-j', chain]));
  while (await quiet(['-t', 'filter', '-D', 'FORWARD', '-i', bridge, '-j', chain]));
  const masquerade = MASQUERADE_RULE(bridge).map((a) => (a === '-A' ? '-D' : a));
  while (await quiet(masquerade));
  for (const table of ['nat', 'filter']) {
    await quiet(['-t', table, '-F', chain]);
    await quiet(['-t', table, '-X', chain]);
  }
}
