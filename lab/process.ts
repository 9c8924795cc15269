/** Starts lab daemons detached (they outlive `bridgectl lab up`) and stops them by pid, never by name. */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { BridgeError } from '../lib/errors.js';
import { waitUntil } from '../lib/wait-until.js';

export interface DaemonRecord {
  name: string;
  pid: number;
  binary: string;
  logFile: string;
  ports: number[];
}

export function startDaemon(name: string, binary: string, args: string[], logFile: string, ports: number[], env: Record<string, string> = {}): DaemonRecord {
  return spawnDetached({ name, binary, logFile, ports }, args, { ...process.env, ...env });
}

/**
 * startDaemon that records each process in `daemons` (and tells `onStarted`) the moment it starts, so an
 * interrupted start leaves nothing `lab down` cannot find.
 */
export function recordingLauncher(daemons: DaemonRecord[], onStarted?: (daemon: DaemonRecord) => void): typeof startDaemon {
  return (...args) => {
    const daemon = startDaemon(...args);
    daemons.push(daemon);
    onStarted?.(daemon);
    return daemon;
  };
}

/** Starts `binary args` detached with exactly `env`, logging to the record's log file. */
function spawnDetached(record: Omit<DaemonRecord, 'pid'>, args: string[], env: NodeJS.ProcessEnv): DaemonRecord {
  const fd = openSync(record.logFile, 'a');
  try {
    const child = spawn(record.binary, args, { detached: true, stdio: ['ignore', fd, fd], env });
    if (child.pid === undefined) throw new Error(`cannot start ${record.binary}`);
    child.unref();
    return { ...record, pid: child.pid };
  } finally {
    closeSync(fd);
  }
}

/** How a running daemon was started: its arguments and whole environment, read from /proc (held in memory only: the environment may hold secrets). */
export interface DaemonLaunch {
  record: DaemonRecord;
  args: string[];
  env: Record<string, string>;
}

/** The launch of a daemon that still runs, or undefined (it exited, or there is no procfs to read it from). */
export function readLaunch(record: DaemonRecord): DaemonLaunch | undefined {
  if (!isDaemonAlive(record)) return undefined;
  try {
    const args = readFileSync(`/proc/${record.pid}/cmdline`, 'utf8').split('\0').slice(1, -1);
    const pairs = readFileSync(`/proc/${record.pid}/environ`, 'utf8').split('\0').filter(Boolean);
    const env = Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
    return { record, args, env };
  } catch {
    return undefined;
  }
}

/** Starts a daemon again as it was (same command line, environment, ports and log), whatever the caller's own environment says. */
export function relaunch(launch: DaemonLaunch): DaemonRecord {
  return spawnDetached(launch.record, launch.args, launch.env);
}

/** True while the pid is alive and still runs the binary we started (pids are reused). */
export function isDaemonAlive(record: DaemonRecord): boolean {
  try {
    process.kill(record.pid, 0);
  } catch {
    return false;
  }
  const cmdline = `/proc/${record.pid}/cmdline`;
  if (!existsSync('/proc/self/cmdline')) return true; // no procfs: the signal check is all we have
  try {
    // The process may exit between these reads: then it is not alive.
    const argv0 = readFileSync(cmdline, 'utf8').split('\0')[0] ?? '';
    if (readFileSync(`/proc/${record.pid}/stat`, 'utf8').split(' ')[2] === 'Z') return false;
    return argv0 === record.binary;
  } catch {
    return false;
  }
}

export async function stopDaemon(record: DaemonRecord, graceMs = 10_000): Promise<void> {
  if (!isDaemonAlive(record)) return;
  process.kill(record.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isDaemonAlive(record)) return;
    await sleep(100);
  }
  try {
    process.kill(record.pid, 'SIGKILL');
  } catch {
    return;
  }
  while (isDaemonAlive(record)) await sleep(50);
}

/** The last lines of a daemon's log, to explain why it died. */
export function logTail(logFile: string, lines = 5): string {
  if (!existsSync(logFile)) return '';
  return readFileSync(logFile, 'utf8').trim().split('\n').slice(-lines).join('\n');
}

/** Waits until a component answers 200 on its plain ops port's /readyz, or fails naming it, its log and the log's last line. */
export async function waitForOpsReady(daemon: DaemonRecord, opsPort: number, timeoutMs = 30_000): Promise<void> {
  const lastLine = () => logTail(daemon.logFile, 1).slice(0, 300) || 'no output';
  await waitUntil(`the lab ${daemon.name} to become ready`, async () => (await fetch(`http://127.0.0.1:${opsPort}/readyz`)).ok, {
    timeoutMs,
    intervalMs: 100,
    abandon: () => (isDaemonAlive(daemon) ? undefined : 'it exited during start-up'),
    failure: (message) => new BridgeError('BRIDGE_ERR_LAB_START_FAILED', `${message}; its log ends: ${lastLine()}`, { fix: `read ${daemon.logFile}` }),
  });
}
