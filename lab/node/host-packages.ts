/**
 * The Debian packages a real lab node needs, installed with apt-get only when missing, so a fresh CI
 * machine gets them from `lab up --real-node` itself and a prepared one pays nothing.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { BridgeError, errorMessage } from '../../lib/errors.js';

const execFileAsync = promisify(execFile);

/** Each package and a file it installs: present means installed. */
export const NODE_PACKAGES: readonly (readonly [pkg: string, probe: string])[] = [
  ['containerd', '/usr/bin/containerd'],
  ['runc', '/usr/sbin/runc'],
  // bridge, host-local, loopback and portmap CNI plugins.
  ['containernetworking-plugins', '/usr/lib/cni/bridge'],
  // A static busybox for the test image (the dynamic one would need a libc in the image).
  ['busybox-static', '/usr/share/doc/busybox-static'],
  ['iptables', '/usr/sbin/iptables'],
  ['gcc', '/usr/bin/gcc'],
  ['libc6-dev', '/usr/lib/x86_64-linux-gnu/libc.a'],
];

export function missingNodePackages(exists: (path: string) => boolean = existsSync): string[] {
  return NODE_PACKAGES.filter(([, probe]) => !exists(probe)).map(([pkg]) => pkg);
}

export async function ensureNodePackages(progress: (line: string) => void): Promise<void> {
  const missing = missingNodePackages();
  if (missing.length === 0) return;
  const install = `apt-get install ${missing.join(' ')}`;
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
    throw new BridgeError('BRIDGE_ERR_LAB_START_FAILED', `the real node needs the Debian packages ${missing.join(', ')}`, { fix: `run as root: ${install}` });
  }
  progress(`installing ${missing.join(', ')} for the real node (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await execFileAsync('apt-get', ['update', '-qq'], { env, maxBuffer: 16 * 1024 * 1024 });
    await execFileAsync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    throw new BridgeError('BRIDGE_ERR_LAB_START_FAILED', `${install} failed: ${errorMessage(err).split('\n').slice(-3).join(' ')}`, {
      fix: `run \`${install}\` by hand and read its output`,
      cause: err,
    });
  }
  const still = missingNodePackages();
  if (still.length > 0) throw new BridgeError('BRIDGE_ERR_LAB_START_FAILED', `after ${install}, still missing: ${still.join(', ')}`);
}
