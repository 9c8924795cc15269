/**
 * Reading manifests/ in unit tests: a file's documents, a Deployment's container, and the environment
 * its pod would see with the mounted files stood in for by a temp dir, so the component's own config
 * loader can judge the Deployment.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Env } from '../../lib/process/config.js';
import { repoRoot } from '../../lib/process/paths.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Doc = Record<string, any>;

export function manifestLoader(folder: string): (file: string) => Doc[] {
  const dir = join(repoRoot(), 'manifests', folder);
  return (file) => parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => d.toJS() as Doc);
}

export interface EnvVar {
  name: string;
  value?: string;
}

/** The port number a container declares under `name`. */
export function containerPort(container: Doc, name: string): number | undefined {
  return (container.ports as { name: string; containerPort: number }[]).find((p) => p.name === name)?.containerPort;
}

/** The Secret volume mounted at a path's folder, or undefined. */
export function secretMountedAt(podSpec: Doc, container: Doc, path: string): string | undefined {
  const mount = (container.volumeMounts as { name: string; mountPath: string }[]).find((m) => m.mountPath === dirname(path) || m.mountPath === path);
  return mount ? (podSpec.volumes as Doc[]).find((v) => v.name === mount.name)?.secret?.secretName : undefined;
}

/**
 * The container's env as its pod sees it, with each Secret mount moved under `root` holding the keys
 * `secretKeys` names for that Secret (empty files: the loaders check that files exist).
 */
export function envWithMountedSecrets(root: string, podSpec: Doc, container: Doc, secretKeys: Record<string, string[]>): Env {
  const mounts = (container.volumeMounts as { name: string; mountPath: string }[]).map((m) => ({
    path: m.mountPath,
    secret: (podSpec.volumes as Doc[]).find((v) => v.name === m.name)?.secret?.secretName as string | undefined,
  }));
  for (const { path, secret } of mounts) {
    mkdirSync(join(root, path), { recursive: true });
    for (const key of secretKeys[secret ?? ''] ?? []) writeFileSync(join(root, path, key), '');
  }
  const env: Env = {};
  for (const { name, value } of container.env as EnvVar[]) {
    const mounted = value && mounts.some((m) => value === m.path || value.startsWith(`${m.path}/`));
    env[name] = mounted ? join(root, value) : value;
  }
  return env;
}
