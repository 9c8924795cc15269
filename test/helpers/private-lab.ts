/**
 * For a test file whose bridge moves shards: the aggregator fences a moved shard on the source
 * cluster-wide (aggregator/fencing.ts), which would refuse other suites' writes to the shared lab
 * while both run. Imported FIRST by such a file, this module points BRIDGE_LAB_DIR at a new folder and
 * starts a lab there before the file's own module-level code reads kubeconfigs (ESM evaluates imports
 * in order). `stopPrivateLab()` in afterAll stops it and gives the Jest worker, which runs more files,
 * its environment back.
 *
 * Its destination's service range, 10.96.0.0/12, holds the source's (the default 10.96.0.0/16) and is
 * 16 times larger: a ClusterIP the destination allocated itself would most likely fall outside the
 * source's range, so a test can tell which cluster chose one.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './lab-clients.js';

export const DESTINATION_SERVICE_CIDR = '10.96.0.0/12';
const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');
const previous = process.env.BRIDGE_LAB_DIR;
const dir = mkdtempSync(join(tmpdir(), 'bridge-private-lab-'));
process.env.BRIDGE_LAB_DIR = dir;
const started = Date.now();
const up = spawnSync(process.execPath, [CLI, 'lab', 'up', '--destination-service-cidr', DESTINATION_SERVICE_CIDR], {
  env: process.env,
  encoding: 'utf8',
  timeout: 10 * 60_000,
});
if (up.status !== 0) throw new Error(`bridgectl lab up in ${dir} failed (exit ${up.status}): ${up.stderr.trim().split('\n').slice(-3).join(' | ')}`);
process.stderr.write(`[private lab] started in ${((Date.now() - started) / 1000).toFixed(1)} s at ${dir}\n`);

export async function stopPrivateLab(): Promise<void> {
  await run(process.execPath, [CLI, 'lab', 'down', '--purge'], { env: { ...process.env, BRIDGE_LAB_DIR: dir } });
  rmSync(dir, { recursive: true, force: true });
  if (previous === undefined) delete process.env.BRIDGE_LAB_DIR;
  else process.env.BRIDGE_LAB_DIR = previous;
}
