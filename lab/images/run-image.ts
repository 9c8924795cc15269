/**
 * Runs an image the way a kubelet's runtime would, with runc and an OCI spec written here: the image's
 * root filesystem (a mounted buildah working container, read-only), its entrypoint, env, working
 * directory and user, no capabilities, no new privileges, and only RLIMIT_NOFILE, set to this
 * process's own limits (root here lacks CAP_SYS_RESOURCE, so raising any limit fails, which is what
 * stops podman's and crun's defaults). The container shares the host's network namespace, so a test
 * reaches its ports on loopback; pod networking is the lab node's job.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { BridgeError } from '../../lib/errors.js';
import { imageConfig, mountImage, removeContainer, type ImageConfig } from './buildah.js';
import { runTool } from './tool.js';

export interface BindMount {
  source: string;
  destination: string;
}

export interface RunOptions {
  image: string;
  /** Unique per run: the runc container id and the buildah working container's name. */
  id: string;
  /** Replaces the image's CMD (the ENTRYPOINT stays). */
  cmd?: string[];
  env?: Record<string, string>;
  /** Read-only bind mounts (Secrets, ConfigMaps, the token in a pod). */
  mounts?: BindMount[];
  /** Where the bundle, runc's state and the container's output go. */
  workDir: string;
}

export interface RunningContainer {
  id: string;
  /** The container's first process, as the host sees it (for /proc/PID/smaps_rollup). */
  pid: number;
  /** The container's stdout and stderr. */
  output: string;
  stop(): Promise<void>;
}

/** The soft and hard open-files limits of this process, which the container must not exceed. */
export function currentNofile(): { soft: number; hard: number } {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line ?? '')
    .split(/\s{2,}/)
    .slice(1, 3)
    .map(Number);
  if (!soft || !hard) throw new BridgeError('BRIDGE_ERR_LAB_START_FAILED', 'cannot read the open-files limit from /proc/self/limits');
  return { soft, hard };
}

function userIds(user: string): { uid: number; gid: number } {
  const [uid, gid] = user.split(':').map(Number);
  if (uid === undefined || !Number.isInteger(uid)) throw new BridgeError('BRIDGE_ERR_LAB_START_FAILED', `image user "${user}" is not numeric`);
  return { uid, gid: gid !== undefined && Number.isInteger(gid) ? gid : uid };
}

const readOnly = ['nosuid', 'nodev', 'noexec', 'ro'];

/** The OCI runtime spec for one container of the image. */
export function ociSpec(config: ImageConfig, rootfs: string, options: RunOptions): object {
  const noCaps = { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] };
  const nofile = currentNofile();
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: userIds(config.user),
      args: [...config.entrypoint, ...(options.cmd ?? config.cmd)],
      env: [...config.env, ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`)],
      cwd: config.workingDir,
      capabilities: noCaps,
      rlimits: [{ type: 'RLIMIT_NOFILE', soft: nofile.soft, hard: nofile.hard }],
      noNewPrivileges: true,
    },
    root: { path: rootfs, readonly: true },
    hostname: options.id,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', ...readOnly] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=65536k'] },
      ...(options.mounts ?? []).map((m) => ({ destination: m.destination, type: 'bind', source: m.source, options: ['rbind', ...readOnly] })),
    ],
    linux: {
      // No network namespace: the host's loopback (see the header).
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug', '/sys/firmware'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

async function runc(stateRoot: string, args: string[], log: string): Promise<string> {
  return (await runTool('runc', ['--root', stateRoot, ...args], log)).stdout;
}

async function containerStatus(stateRoot: string, id: string, log: string): Promise<string> {
  try {
    return (JSON.parse(await runc(stateRoot, ['state', id], log)) as { status: string }).status;
  } catch {
    return 'gone';
  }
}

/** Starts the image detached under runc; `stop()` sends SIGTERM (then SIGKILL after 10 s) and cleans up. */
export async function runImage(options: RunOptions): Promise<RunningContainer> {
  const bundle = join(options.workDir, options.id);
  const stateRoot = join(options.workDir, 'runc-state');
  const log = join(options.workDir, 'runc.log');
  const output = join(bundle, 'output.log');
  rmSync(bundle, { recursive: true, force: true });
  mkdirSync(stateRoot, { recursive: true });
  mkdirSync(bundle, { recursive: true });
  const config = await imageConfig(options.image, log);
  const rootfs = await mountImage(options.image, options.id, log);
  const cleanUp = async () => {
    await runc(stateRoot, ['delete', '--force', options.id], log).catch(() => undefined);
    await removeContainer(options.id, log);
  };
  try {
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(ociSpec(config, rootfs, options), null, 2));
    // The container inherits these descriptors; a file (not a pipe) lets runc exit while it runs.
    const fd = openSync(output, 'a');
    const child = spawn('runc', ['--root', stateRoot, 'run', '--detach', '--bundle', bundle, '--pid-file', join(bundle, 'pid'), options.id], {
      stdio: ['ignore', fd, fd],
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    closeSync(fd);
    if (code !== 0 || !existsSync(join(bundle, 'pid'))) {
      throw new BridgeError('BRIDGE_ERR_LAB_START_FAILED', `runc run ${options.id} exited ${code}: ${readFileSync(output, 'utf8').trim().slice(-500)}`);
    }
  } catch (err) {
    await cleanUp();
    throw err;
  }
  const pid = Number(readFileSync(join(bundle, 'pid'), 'utf8').trim());
  return {
    id: options.id,
    pid,
    output,
    async stop() {
      await runc(stateRoot, ['kill', options.id, 'TERM'], log).catch(() => undefined);
      for (let i = 0; i < 100 && (await containerStatus(stateRoot, options.id, log)) === 'running'; i++) await sleep(100);
      await cleanUp();
    },
  };
}
