/**
 * Runs the image tools (buildah, mmdebstrap, runc, tar, npm) with their output appended to one log, and
 * installs the Debian packages that provide them when they are missing, so a fresh CI machine gets them
 * from the project's own code (nothing installed by hand survives a new machine).
 */
import { execFile, spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { BridgeError } from '../../lib/errors.js';

const execFileAsync = promisify(execFile);

/** Debian package per command the image build and the runc checks need. */
export const IMAGE_TOOL_PACKAGES: Record<string, string> = { buildah: 'buildah', mmdebstrap: 'mmdebstrap', runc: 'runc' };

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** `apt-get install` of the packages whose commands are missing (root only; otherwise says what to install). */
export function ensureImageTools(commands: string[] = Object.keys(IMAGE_TOOL_PACKAGES)): void {
  const missing = commands.filter((c) => !onPath(c)).map((c) => IMAGE_TOOL_PACKAGES[c] ?? c);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new BridgeError('BRIDGE_ERR_LAB_BUILD_FAILED', `missing ${missing.join(', ')}`, { fix: `sudo apt-get install ${missing.join(' ')}` });
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', '--no-install-recommends', ...missing],
  ]) {
    const result = spawnSync('apt-get', args, { stdio: 'inherit', env });
    if (result.status !== 0) throw new BridgeError('BRIDGE_ERR_LAB_BUILD_FAILED', `apt-get ${args.join(' ')} failed (status ${result.status})`);
  }
}

export interface ToolRun {
  stdout: string;
  stderr: string;
}

/** Runs a tool; on failure the error names the command and the log that holds its output. */
export async function runTool(command: string, args: string[], log: string, options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ToolRun> {
  mkdirSync(dirname(log), { recursive: true });
  appendFileSync(log, `\n$ ${command} ${args.join(' ')}\n`);
  try {
    const { stdout, stderr } = await execFileAsync(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      maxBuffer: 256 * 1024 * 1024,
    });
    appendFileSync(log, `${stdout}${stderr}`);
    return { stdout, stderr };
  } catch (err) {
    const failed = err as { stdout?: string; stderr?: string; code?: number | string };
    appendFileSync(log, `${failed.stdout ?? ''}${failed.stderr ?? ''}`);
    const tail = (failed.stderr ?? '').trim().split('\n').slice(-3).join(' | ');
    throw new BridgeError('BRIDGE_ERR_LAB_BUILD_FAILED', `${command} ${args.slice(0, 2).join(' ')} failed (${failed.code}): ${tail}`, {
      fix: `read ${log}`,
    });
  }
}
