/**
 * The way back from a failed `bridgectl lab install --replace` (issue 21): the components of the
 * earlier install are read as they run (command line and environment, lab/process.ts) before they are
 * stopped, and started again as they were when a new one fails. Their ports are kept for the new install
 * (LabInstallContext.ports), so the webhook registration and .lab/workload.kubeconfig a half-done
 * install wrote point at the restarted components as well.
 */
import { BridgeError, errorMessage, isBridgeError } from '../lib/errors.js';
import { freePort, isPortBound } from './ports.js';
import { readLaunch, relaunch, waitForOpsReady, type DaemonLaunch, type DaemonRecord } from './process.js';

/** The running components' launches, in install order; those that cannot be read are named in `unreadable`. */
export function captureEarlierInstall(running: DaemonRecord[]): { launches: DaemonLaunch[]; unreadable: string[] } {
  const launches = running.map((d) => readLaunch(d));
  return {
    launches: launches.filter((l): l is DaemonLaunch => l !== undefined),
    unreadable: running.filter((_, i) => launches[i] === undefined).map((d) => d.name),
  };
}

/** The ports a component had in the earlier install when both are free again, else two new ones: `[serving, ops]`. */
export async function portsFor(earlier: DaemonRecord[], component: string): Promise<[number, number]> {
  const ports = earlier.find((d) => d.name === component)?.ports;
  if (ports?.length === 2 && !(await isPortBound(ports[0]!)) && !(await isPortBound(ports[1]!))) return [ports[0]!, ports[1]!];
  return [await freePort(), await freePort()];
}

/**
 * Starts the earlier install's components again (the failed install's are stopped by then), waits until
 * each is ready on its ops port (`ports[1]`), records them, and returns the install's error saying so.
 */
export async function restoreEarlierInstall(
  failure: unknown,
  earlier: { launches: DaemonLaunch[]; unreadable: string[] },
  record: (daemons: DaemonRecord[]) => void,
): Promise<unknown> {
  if (earlier.launches.length === 0 && earlier.unreadable.length === 0) return failure;
  const restarted: DaemonRecord[] = [];
  const outcome: string[] = [];
  try {
    for (const launch of earlier.launches) {
      const daemon = relaunch(launch);
      restarted.push(daemon);
      record(restarted);
      await waitForOpsReady(daemon, daemon.ports[1]!);
    }
    if (restarted.length > 0) outcome.push(`the earlier install runs again: ${restarted.map((d) => d.name).join(', ')}`);
  } catch (err) {
    outcome.push(`starting the earlier install again failed too: ${errorMessage(err)}`);
  }
  if (earlier.unreadable.length > 0) outcome.push(`not restarted (their command lines could not be read): ${earlier.unreadable.join(', ')}`);
  const code = isBridgeError(failure) ? failure.code : 'BRIDGE_ERR_LAB_START_FAILED';
  const fix = isBridgeError(failure) ? failure.fix : undefined;
  return new BridgeError(code, `${[errorMessage(failure), ...outcome].join('; ')}`, { ...(fix ? { fix } : {}), cause: failure });
}
