import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest folder above this file whose package.json is cluster-bridge's. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'cluster-bridge') {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the cluster-bridge repository root');
    dir = parent;
  }
}

/** Built control-plane binaries live here, keyed by version, so they survive clones and `lab down`. */
export function cacheDir(): string {
  return resolve(process.env.BRIDGE_CACHE_DIR ?? join(homedir(), '.cache', 'cluster-bridge'));
}

/** The lab's state, PKI, data and kubeconfigs. */
export function labDir(): string {
  return resolve(process.env.BRIDGE_LAB_DIR ?? join(repoRoot(), '.lab'));
}
