/**
 * `bridgectl preflight`: before a rollout starts, checks that the destination can take over from the
 * source (issue 9, DESIGN.md section 3): versions, API types, service IPs and nodePorts, the
 * destination's workload controllers off, and (warnings) cluster grants only the destination has and
 * pods of labelled namespaces that run without the bridge. One line per check, exit code 1 when any fails.
 */
import { BridgeError } from '../../lib/errors.js';
import { parseFlags } from '../../lib/process/flags.js';
import type { Command } from '../command.js';
import { checkApiTypes } from './api-types.js';
import { checkClusterRbac } from './cluster-rbac.js';
import { connectClusters } from './clusters.js';
import { probeControllers } from './controllers.js';
import { renderReport, runCheck, type CheckResult } from './report.js';
import { checkServiceIps, movableServices } from './service-ips.js';
import { checkUnbridgedPods } from './unbridged-pods.js';
import { compareVersions } from './versions.js';

export async function runPreflight(paths: { source?: string; destination?: string }): Promise<CheckResult[]> {
  const { source, destination } = await connectClusters(paths);
  try {
    // Independent of each other: run together, report in a fixed order.
    return await Promise.all([
      runCheck('versions', async () => compareVersions(source.version, destination.version)),
      runCheck('api-types', () => checkApiTypes(source.client, destination.client)),
      runCheck('service-ips', async () => checkServiceIps(await movableServices(source.client), destination.client)),
      runCheck('controllers-off', () => probeControllers(destination.client)),
      runCheck('cluster-rbac', () => checkClusterRbac(source.client, destination.client)),
      runCheck('unbridged-pods', () => checkUnbridgedPods(source.client)),
    ]);
  } finally {
    source.client.close();
    destination.client.close();
  }
}

export const preflightCommand: Command = {
  summary: 'check the destination can take over from the source [--source-kubeconfig F] [--destination-kubeconfig F] [--output json]; exit 1 on any failure',
  async run(args) {
    const flags = parseFlags('preflight', args, {
      'source-kubeconfig': { type: 'string' },
      'destination-kubeconfig': { type: 'string' },
      output: { type: 'string' },
    });
    if (flags.output !== undefined && flags.output !== 'json')
      throw new BridgeError('BRIDGE_ERR_USAGE', `--output must be json, got "${flags.output}"`, { fix: 'omit --output or pass --output json' });
    const results = await runPreflight({ source: flags['source-kubeconfig'], destination: flags['destination-kubeconfig'] });
    process.stdout.write(`${renderReport(results, flags.output === 'json' ? 'json' : 'text')}\n`);
    if (results.some((r) => !r.ok)) process.exitCode = 1;
  },
};
