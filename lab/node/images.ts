/**
 * The real node's two local images, as `docker save` archives that `ctr images import` loads: no
 * registry is reachable, so nothing is ever pulled. The sandbox (pause) image holds only the static
 * pause binary; the test image holds Debian's static busybox and the in-pod check program.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { NodeBinaries } from './build.js';

const execFileAsync = promisify(execFile);

/** Names without a registry: they never leave the node's containerd (imagePullPolicy Never). */
export const PAUSE_IMAGE = 'localhost/cluster-bridge/pause:lab';
export const TEST_IMAGE = 'localhost/cluster-bridge/lab-tools:lab';

const BUSYBOX = '/bin/busybox';
// Not wget or nslookup: Debian's static busybox (1.35) segfaults in both, on the host too; nc does HTTP.
const BUSYBOX_APPLETS = ['sh', 'ls', 'cat', 'echo', 'sleep', 'hostname', 'id', 'env', 'ps', 'ip', 'nc', 'grep', 'head', 'httpd'];
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ImageArchive {
  name: string;
  file: string;
}

/** The image config and the archive's manifest for a single-layer image. */
export function imageMetadata(name: string, layerDigest: string, config: { Entrypoint?: string[]; Cmd?: string[] }) {
  return {
    config: { architecture: 'amd64', os: 'linux', config: { ...config, Env: [PATH_ENV] }, rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] } },
    manifest: [{ Config: 'config.json', RepoTags: [name], Layers: ['layer.tar'] }],
  };
}

/** A single-layer image of `rootfs` as a docker-archive at `out` (`work`: an empty scratch folder); tests build theirs with it too. */
export async function archive(work: string, rootfs: string, name: string, config: { Entrypoint?: string[]; Cmd?: string[] }, out: string): Promise<void> {
  const layer = join(work, 'layer.tar');
  // Reproducible: fixed owner and mtime, sorted names.
  await execFileAsync('tar', ['--numeric-owner', '--owner=0', '--group=0', '--mtime=@0', '--sort=name', '-C', rootfs, '-cf', layer, '.']);
  const digest = createHash('sha256').update(readFileSync(layer)).digest('hex');
  const meta = imageMetadata(name, digest, config);
  writeFileSync(join(work, 'config.json'), JSON.stringify(meta.config));
  writeFileSync(join(work, 'manifest.json'), JSON.stringify(meta.manifest));
  // Renamed into place: a half-written archive is never taken for a built one.
  await execFileAsync('tar', ['-C', work, '-cf', `${out}.tmp`, 'manifest.json', 'config.json', 'layer.tar']);
  renameSync(`${out}.tmp`, out);
}

/** Builds both archives into `dir` (next to the binaries they hold) unless they are there. */
export async function ensureNodeImages(dir: string, binaries: NodeBinaries): Promise<ImageArchive[]> {
  const pause = { name: PAUSE_IMAGE, file: join(dir, 'pause-image.tar') };
  const tools = { name: TEST_IMAGE, file: join(dir, 'lab-tools-image.tar') };
  if (existsSync(pause.file) && existsSync(tools.file)) return [pause, tools];
  const work = join(dir, `images.partial-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  try {
    const pauseRoot = join(work, 'pause-root');
    mkdirSync(pauseRoot, { recursive: true });
    copyFileSync(binaries.pause, join(pauseRoot, 'pause'));
    chmodSync(join(pauseRoot, 'pause'), 0o755);
    mkdirSync(join(work, 'pause'));
    await archive(join(work, 'pause'), pauseRoot, pause.name, { Entrypoint: ['/pause'] }, pause.file);

    const toolsRoot = join(work, 'tools-root');
    for (const sub of ['bin', 'etc', 'tmp']) mkdirSync(join(toolsRoot, sub), { recursive: true });
    chmodSync(join(toolsRoot, 'tmp'), 0o1777);
    copyFileSync(BUSYBOX, join(toolsRoot, 'bin', 'busybox'));
    chmodSync(join(toolsRoot, 'bin', 'busybox'), 0o755);
    for (const applet of BUSYBOX_APPLETS) symlinkSync('busybox', join(toolsRoot, 'bin', applet));
    copyFileSync(binaries.inclusterCheck, join(toolsRoot, 'bin', 'incluster-check'));
    chmodSync(join(toolsRoot, 'bin', 'incluster-check'), 0o755);
    mkdirSync(join(work, 'tools'));
    await archive(join(work, 'tools'), toolsRoot, tools.name, { Cmd: ['/bin/sh'] }, tools.file);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return [pause, tools];
}
