/**
 * What the benchmarks that use the lab's installed bridge share (`bridgectl lab up`, `bridgectl lab
 * install`): the workload's credentials, the installed daemons' ports, a sidecar started as the image
 * runs it, and that sidecar's choices of upstream.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { LAB_APPS_NAMESPACE } from '../lab/install-context.js';
import { readInstalledDaemons } from '../lab/install.js';
import { BridgeError } from '../lib/errors.js';
import { labDir } from '../lib/process/paths.js';
import { freePort } from '../lab/ports.js';
import { waitUntil } from '../lib/wait-until.js';
import { sidecarImageCommand } from '../sidecar/image-command.js';

export /** The workload's token and the CA bundle of its kubeconfig (the sidecar's and the aggregator's serving certificates). */
function workloadCredentials(): { token: string; caPem: string } {
  const kc = new KubeConfig();
  kc.loadFromFile(join(labDir(), 'workload.kubeconfig'));
  const token = kc.getCurrentUser()?.token;
  const caData = kc.getCurrentCluster()?.caData;
  if (!token || !caData)
    throw new BridgeError('BRIDGE_ERR_CONFIG', 'the lab workload kubeconfig has no token or CA', { fix: 'run `bridgectl lab install --replace`' });
  return { token, caPem: Buffer.from(caData, 'base64').toString() };
}

export function installed(name: string): { pid: number; port: number; opsPort: number } {
  const daemon = readInstalledDaemons().find((d) => d.name === name);
  if (!daemon) throw new BridgeError('BRIDGE_ERR_CONFIG', `the lab has no ${name} installed`, { fix: 'run `bridgectl lab install`' });
  return { pid: daemon.pid, port: daemon.ports[0]!, opsPort: daemon.ports[1]! };
}

/** A sidecar as the image runs it, with the lab sidecar's certificates; resolves once ready (and, with local routing, once it holds a table). */
export async function startBenchSidecar(env: Record<string, string>, localRouting: boolean): Promise<{ child: ChildProcess; port: number; opsPort: number }> {
  const [port, opsPort] = [await freePort(), await freePort()];
  const { nodeFlags, entry } = sidecarImageCommand();
  const child = spawn(process.execPath, [...nodeFlags, entry], {
    stdio: 'ignore',
    env: {
      ...process.env,
      ...env,
      BRIDGE_LISTEN_PORT: String(port),
      BRIDGE_OPS_PORT: String(opsPort),
      BRIDGE_POD_NAME: 'bench',
      BRIDGE_POD_NAMESPACE: LAB_APPS_NAMESPACE,
      BRIDGE_LOG_LEVEL: 'warn',
      BRIDGE_LOCAL_ROUTING: localRouting ? 'on' : 'off',
    },
  });
  const ready = async () => {
    const res = await fetch(`http://127.0.0.1:${opsPort}/${localRouting ? 'metrics' : 'readyz'}`);
    return res.ok && (!localRouting || (await res.text()).includes('cluster_bridge_sidecar_routing_table_fresh 1'));
  };
  await waitUntil('a bench sidecar to be ready', async () => ((await ready().catch(() => false)) ? true : undefined), {
    timeoutMs: 30_000,
    intervalMs: 100,
    abandon: () => (child.exitCode !== null ? `it exited with code ${child.exitCode}` : undefined),
  });
  return { child, port, opsPort };
}

export /** Requests the local-routing sidecar sent to each upstream, from its metrics. */
async function choices(opsPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^cluster_bridge_sidecar_upstream_choices_total\{upstream="(\w+)",reason="([\w-]+)"\} (\d+)$/gm))
    out[`${m[1]}/${m[2]}`] = Number(m[3]);
  return out;
}
