/**
 * Starts a lab in a new folder and points BRIDGE_LAB_DIR at it, synchronously (for a module imported
 * FIRST by a test file: ESM evaluates imports in order, so the file's own module-level code then reads
 * this lab's kubeconfigs). The returned stop() stops it and gives the Jest worker, which runs more
 * files, its environment back. private-lab.ts, private-lab-disjoint.ts and private-lab-real-node.ts use it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './lab-clients.js';

const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');

export function startLabOfItsOwn(destinationServiceCidr: string, extraArgs: readonly string[] = []): () => Promise<void> {
  const previous = process.env.BRIDGE_LAB_DIR;
  const dir = mkdtempSync(join(tmpdir(), 'bridge-private-lab-'));
  process.env.BRIDGE_LAB_DIR = dir;
  const started = Date.now();
  const up = spawnSync(process.execPath, [CLI, 'lab', 'up', '--destination-service-cidr', destinationServiceCidr, ...extraArgs], {
    env: process.env,
    encoding: 'utf8',
    timeout: 10 * 60_000,
  });
  if (up.status !== 0) throw new Error(`bridgectl lab up in ${dir} failed (exit ${up.status}): ${up.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  process.stderr.write(`[private lab] started in ${((Date.now() - started) / 1000).toFixed(1)} s at ${dir}\n`);
  return async () => {
    await run(process.execPath, [CLI, 'lab', 'down', '--purge'], { env: { ...process.env, BRIDGE_LAB_DIR: dir } });
    rmSync(dir, { recursive: true, force: true });
    if (previous === undefined) delete process.env.BRIDGE_LAB_DIR;
    else process.env.BRIDGE_LAB_DIR = previous;
  };
}
