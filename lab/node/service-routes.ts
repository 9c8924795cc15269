/**
 * The `kubernetes` Service for pods on the real node. The lab's API servers listen on 127.0.0.1 only and
 * advertise no endpoint (kube-apiserver refuses loopback endpoints), so kube-proxy would have nothing to
 * route to; instead the lab DNATs the Service's ClusterIP:443, for packets that come in on the node's
 * bridge only, to 127.0.0.1:<apiserver port>, with route_localnet on that bridge alone. A chain of its
 * own (nodeHostNames().chain) keeps it apart from other labs and from anything else on the host.
 */
import { writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { run } from './pod-network.js';

const execFileAsync = promisify(execFile);

export interface ServiceRoute {
  clusterIp: string;
  port: number;
  /** Where on the host loopback it goes. */
  targetPort: number;
}

/** iptables argument lists, in order, that set the node's routes up (pure, for the unit test). */
export function serviceRouteRules(bridge: string, chain: string, routes: readonly ServiceRoute[]): string[][] {
  return [
    ['-t', 'nat', '-N', chain],
    ...routes.map((r) => [
      '-t',
      'nat',
      '-A',
      chain,
      '-d',
      `${r.clusterIp}/32`,
      '-p',
      'tcp',
      '--dport',
      String(r.port),
      '-j',
      'DNAT',
      '--to-destination',
      `127.0.0.1:${r.targetPort}`,
    ]),
    ['-t', 'nat', '-A', 'PREROUTING', '-i', bridge, '-j', chain],
  ];
}

export async function addServiceRoutes(bridge: string, chain: string, routes: readonly ServiceRoute[]): Promise<void> {
  await removeServiceRoutes(bridge, chain);
  // Without it the kernel drops packets from the bridge addressed to 127.0.0.0/8 as martians.
  writeFileSync(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`, '1');
  for (const rule of serviceRouteRules(bridge, chain, routes)) await run('iptables', ['-w', ...rule]);
}

/** Removes the jump and the chain, whatever is left of them (quietly: absent is fine). */
export async function removeServiceRoutes(bridge: string, chain: string): Promise<void> {
  const quiet = (args: string[]) =>
    execFileAsync('iptables', ['-w', ...args]).then(
      () => true,
      () => false,
    );
  while (await quiet(['-t', 'nat', '-D', 'PREROUTING', '-i', bridge, '-j', chain]));
  await quiet(['-t', 'nat', '-F', chain]);
  await quiet(['-t', 'nat', '-X', chain]);
}
