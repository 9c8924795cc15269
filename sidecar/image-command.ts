/**
 * The sidecar's command line as the image runs it (Dockerfile.sidecar's ENTRYPOINT: the bundle and its
 * V8 flags), with `node` left to the caller. The lab, the tests and the benchmark start the sidecar with
 * it, so what they measure and exercise is what pods run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BridgeError } from '../lib/errors.js';
import { repoRoot } from '../lib/process/paths.js';

export interface ImageCommand {
  /** Node flags from the ENTRYPOINT, e.g. --max-semi-space-size=1. */
  nodeFlags: string[];
  /** Absolute path of the entry file in this checkout (dist/sidecar.mjs). */
  entry: string;
}

export function sidecarImageCommand(): ImageCommand {
  const dockerfile = readFileSync(join(repoRoot(), 'Dockerfile.sidecar'), 'utf8');
  const line = dockerfile.split('\n').find((l) => l.startsWith('ENTRYPOINT '));
  if (!line) throw new BridgeError('BRIDGE_ERR_CONFIG', 'Dockerfile.sidecar has no ENTRYPOINT');
  const entrypoint = JSON.parse(line.slice('ENTRYPOINT '.length)) as string[];
  const entry = join(repoRoot(), entrypoint.at(-1)!);
  if (!existsSync(entry)) {
    throw new BridgeError('BRIDGE_ERR_CONFIG', `${entry} is missing`, { fix: 'run `npm run build` (it bundles the sidecar)' });
  }
  return { nodeFlags: entrypoint.slice(1, -1), entry };
}
