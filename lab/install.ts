/**
 * `bridgectl lab install`: wires the components to the running lab as local processes (DESIGN.md
 * section 7). Each component contributes an installer; this module owns the shared context, the
 * bridge CA and the record of started processes that `lab down` stops.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BridgeError } from '../lib/errors.js';
import { ensureBridgeAuthority, type BridgeIssuers } from '../certs/bridge-authority.js';
import { labDir, repoRoot } from '../lib/process/paths.js';
import { KubeRestClient, usingClient } from '../lib/kube/rest-client.js';
import { labComponentsKubeconfig } from './install-bridge.js';
import { LAB_APPS_NAMESPACE, type LabInstallContext } from './install-context.js';
import { requireLab } from './lab-files.js';
import { isDaemonAlive, startDaemon, stopDaemon, type DaemonRecord } from './process.js';
import { captureEarlierInstall, portsFor, restoreEarlierInstall } from './install-restore.js';

export type Installer = (ctx: LabInstallContext) => Promise<void>;

const installDir = () => join(labDir(), 'install');
const installStatePath = () => join(installDir(), 'state.json');

export function readInstalledDaemons(): DaemonRecord[] {
  if (!existsSync(installStatePath())) return [];
  return JSON.parse(readFileSync(installStatePath(), 'utf8')) as DaemonRecord[];
}

export function recordInstalledDaemons(daemons: DaemonRecord[]): void {
  mkdirSync(installDir(), { recursive: true });
  const tmp = `${installStatePath()}.tmp`;
  writeFileSync(tmp, JSON.stringify(daemons, null, 2));
  renameSync(tmp, installStatePath());
}

/** Stops every component process `lab install` started (used by `lab down` and by a re-install). */
export async function uninstallComponents(): Promise<number> {
  const daemons = readInstalledDaemons();
  const alive = daemons.filter(isDaemonAlive).length;
  await Promise.all(daemons.map((d) => stopDaemon(d)));
  rmSync(installStatePath(), { force: true });
  return alive;
}

/**
 * The writes an install makes, tried first as server-side dry runs with the identity that makes them
 * (the bridge's own; lab/install-bridge.ts): each cluster answers, and the source takes the lab
 * namespace's ConfigMaps and Secrets whatever its fence says (the lab admin's did not: issue 21).
 */
async function checkInstallable(): Promise<void> {
  for (const cluster of ['source', 'destination'] as const) {
    await usingClient(KubeRestClient.load(await labComponentsKubeconfig(cluster)), async (client) => {
      await client.expect('GET', '/readyz', [200]);
      if (cluster !== 'source' || (await client.request('GET', `/api/v1/namespaces/${LAB_APPS_NAMESPACE}`)).status !== 200) return;
      for (const [resource, kind] of [
        ['configmaps', 'ConfigMap'],
        ['secrets', 'Secret'],
      ]) {
        const probe = { apiVersion: 'v1', kind, metadata: { generateName: 'cluster-bridge-install-check-' } };
        await client.expect('POST', `/api/v1/namespaces/${LAB_APPS_NAMESPACE}/${resource}?dryRun=All`, [200, 201], probe);
      }
    });
  }
}

function ensureBridgeIssuers(): Promise<BridgeIssuers> {
  mkdirSync(installDir(), { recursive: true, mode: 0o700 });
  return ensureBridgeAuthority(installDir(), 'cluster-bridge-lab-bridge-ca');
}

/** Installs every component; components still running from an earlier install are replaced only when asked. */
export async function labInstall(installers: Installer[], progress: (line: string) => void, options: { replace?: boolean } = {}): Promise<DaemonRecord[]> {
  const lab = requireLab();
  const earlierDaemons = readInstalledDaemons();
  const running = earlierDaemons.filter(isDaemonAlive);
  if (running.length > 0) {
    const names = running.map((d) => `${d.name} (pid ${d.pid})`).join(', ');
    if (!options.replace) {
      throw new BridgeError('BRIDGE_ERR_WOULD_REPLACE', `components from an earlier install are running: ${names}`, {
        fix: 'pass --replace to reinstall them, or stop them with `bridgectl lab down` (which also stops the lab)',
      });
    }
    progress(`replacing the running components: ${names}`);
  }
  // What can fail on the clusters is tried before anything running is stopped, and what fails after is
  // undone by starting the earlier components again as they were: a failed --replace leaves them running.
  await checkInstallable();
  const issuers = await ensureBridgeIssuers();
  const earlier = captureEarlierInstall(running);
  await uninstallComponents();
  const daemons: DaemonRecord[] = [];
  const clusterCa = (cluster: string) => readFileSync(join(labDir(), cluster, 'pki', 'ca.crt'), 'utf8');
  const componentDir = (component: string) => {
    const dir = join(installDir(), component);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  };
  const ctx: LabInstallContext = {
    lab,
    labDir: labDir(),
    componentDir,
    issuers,
    clusterCaPem: { source: clusterCa('source'), destination: clusterCa('destination') },
    ports: (component) => portsFor(earlierDaemons, component),
    startNodeProcess(name, nodeArgs, env, ports) {
      const daemon = startDaemon(name, process.execPath, nodeArgs, join(componentDir(name), `${name}.log`), ports, env);
      daemons.push(daemon);
      recordInstalledDaemons(daemons);
      return daemon;
    },
    startComponent(name, args, env, ports) {
      return ctx.startNodeProcess(name, [join(repoRoot(), 'dist', 'cli', 'main.js'), ...args], env, ports);
    },
    progress,
    published: {},
  };
  try {
    for (const install of installers) await install(ctx);
  } catch (err) {
    await uninstallComponents();
    throw await restoreEarlierInstall(err, earlier, recordInstalledDaemons);
  }
  return daemons;
}
