/** `bridgectl lab up|down|status|install|build`. */
import { labDown, labStatus, labUp } from '../lab/lab.js';
import { ensureLabBinaries } from '../lab/build.js';
import { checkKubernetesVersion } from '../lab/lab-request.js';
import { DEFAULT_KUBERNETES_VERSION } from '../lab/versions.js';
import { BridgeError } from '../lib/errors.js';
import { labInstall, readInstalledDaemons, type Installer } from '../lab/install.js';
import { isDaemonAlive } from '../lab/process.js';
import { installAggregator, installSynchronizer } from '../lab/install-bridge.js';
import { installSidecar } from '../lab/install-sidecar.js';
import { installWebhook } from '../lab/install-webhook.js';
import { parseFlags, parseListenPortFlag } from '../lib/process/flags.js';
import { say, type Command } from './command.js';

/**
 * Every component's lab installer, in dependency order: the webhook labels lab-apps; the aggregator
 * asks the synchronizer for catch-up; the sidecar forwards to the aggregator.
 */
const installers: Installer[] = [(ctx) => installWebhook(ctx), installSynchronizer, installAggregator, installSidecar];

export function installAll(progress: (line: string) => void, options: { replace?: boolean } = {}) {
  return labInstall(installers, progress, options);
}

export const labCommands: Record<string, Command> = {
  up: {
    summary:
      'start the source and destination control planes (builds binaries on first use); --real-node adds a kubelet node per cluster; --replace replaces a different running lab',
    async run(args) {
      const flags = parseFlags('lab up', args, {
        'k8s-version': { type: 'string', default: DEFAULT_KUBERNETES_VERSION },
        'source-port': { type: 'string' },
        'destination-port': { type: 'string' },
        'source-service-cidr': { type: 'string' },
        'destination-service-cidr': { type: 'string' },
        replace: { type: 'boolean', default: false },
        'real-node': { type: 'boolean', default: false },
      });
      const result = await labUp({
        replace: flags.replace,
        realNode: flags['real-node'],
        kubernetesVersion: flags['k8s-version'],
        sourcePort: parseListenPortFlag('lab up', flags['source-port'], '--source-port'),
        destinationPort: parseListenPortFlag('lab up', flags['destination-port'], '--destination-port'),
        sourceServiceCidr: flags['source-service-cidr'],
        destinationServiceCidr: flags['destination-service-cidr'],
        progress: say,
      });
      const { source, destination } = result.state.clusters;
      if (result.alreadyRunning) say('lab already running');
      else say(`lab up in ${result.startSeconds.toFixed(1)} s${result.buildSeconds ? ` (built binaries in ${result.buildSeconds.toFixed(0)} s)` : ''}`);
      process.stdout.write(`source       ${source.server}  kubeconfig ${source.kubeconfig}\n`);
      process.stdout.write(`destination  ${destination.server}  kubeconfig ${destination.kubeconfig}\n`);
    },
  },
  down: {
    summary: 'stop the lab; --purge also deletes its data and PKI',
    async run(args) {
      const flags = parseFlags('lab down', args, { purge: { type: 'boolean', default: false } });
      const result = await labDown({ purge: flags.purge });
      if (result.portsStillBound.length > 0) {
        throw new BridgeError('BRIDGE_ERR_LAB_STOP_FAILED', `the lab's processes were stopped but ports ${result.portsStillBound.join(', ')} are still bound`, {
          fix: `find what holds them with \`ss -ltnp 'sport = :${result.portsStillBound[0]}'\`, stop it, then run \`bridgectl lab down\` again`,
        });
      }
      say(result.stopped > 0 ? `lab down: stopped ${result.stopped} processes` : 'lab down: nothing was running');
    },
  },
  status: {
    summary: 'say what runs (exit code 1 when the lab is not fully running)',
    async run(args) {
      parseFlags('lab status', args, {});
      const status = await labStatus();
      if (status.clusters.length === 0) process.stdout.write('lab: not running\n');
      for (const c of status.clusters) {
        const daemons = c.daemons.map((d) => `${d.name}:${d.alive ? d.pid : 'dead'}`).join(' ');
        process.stdout.write(`${c.name.padEnd(12)} ${c.ready ? 'ready    ' : 'NOT READY'} ${c.server}  ${daemons}\n`);
      }
      for (const d of readInstalledDaemons()) {
        process.stdout.write(`${d.name.padEnd(12)} ${isDaemonAlive(d) ? `running   pid ${d.pid}` : 'STOPPED  '}  log ${d.logFile}\n`);
      }
      if (!status.running) process.exitCode = 1;
    },
  },
  install: {
    summary: 'wire the components to the running lab as local processes; --replace reinstalls running ones',
    async run(args) {
      const flags = parseFlags('lab install', args, { replace: { type: 'boolean', default: false } });
      const daemons = await installAll(say, { replace: flags.replace });
      for (const d of daemons) process.stdout.write(`${d.name.padEnd(22)} pid ${d.pid}  log ${d.logFile}\n`);
    },
  },
  build: {
    summary: 'build (or find cached) control-plane binaries for --k8s-version',
    async run(args) {
      const flags = parseFlags('lab build', args, { 'k8s-version': { type: 'string', default: DEFAULT_KUBERNETES_VERSION } });
      const report = await ensureLabBinaries(checkKubernetesVersion(flags['k8s-version']), say);
      for (const [name, path] of Object.entries(report.binaries)) process.stdout.write(`${name.padEnd(22)} ${path}\n`);
      if (report.builtSeconds) say(`built in ${report.builtSeconds.toFixed(0)} s`);
    },
  },
};
