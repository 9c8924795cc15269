/**
 * The workload image of the real-node e2e: a pod's kubectl and a pod's python3-kubernetes, each as a
 * workload would run them, built like the lab's bases (no registry is reachable): Debian's python3,
 * python3-kubernetes, dash, coreutils and grep by `mmdebstrap --variant=extract` from the host's release
 * and apt sources, and the machine's own kubectl at /usr/local/bin. One image serves both pods (they
 * differ only in their command). Tagged and exported by a key over its inputs, so a second run finds the
 * archive under the images cache and builds nothing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BridgeError } from '../../lib/errors.js';
import { debianRootfs, EXCLUDED_PATHS, GROUP, hostDebianSource, PASSWD, sha256, tarFolder, buildImageFromContext } from './base.js';
import { imageId } from './buildah.js';
import { exportOnce, imagesCacheDir } from './build-images.js';
import { ensureImageTools, runTool } from './tool.js';

const PACKAGES = ['base-files', 'dash', 'coreutils', 'grep', 'python3', 'python3-kubernetes'];
const CONTAINERFILE = `FROM scratch
ADD rootfs.tar /
ADD kubectl.tar /
ENV PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
`;

export interface WorkloadImage {
  /** What a pod names (imagePullPolicy Never); the archive's RepoTags hold it under docker.io/ and localhost/. */
  reference: string;
  tarball: string;
  kubectlVersion: string;
  /** False when the archive of this key was already in the cache. */
  built: boolean;
}

function clientVersion(binary: string): string {
  const out = execFileSync(binary, ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
  return (JSON.parse(out) as { clientVersion: { gitVersion: string } }).clientVersion.gitVersion;
}

/**
 * The kubectl on PATH, or, when that is a version dispatcher (the Cloud SDK's kubectl picks one of the
 * kubectl.1.N beside it), the newest of those: a pod runs the real client, not the dispatcher.
 */
export function machineKubectl(): { binary: string; version: string } {
  const onPath = execFileSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim();
  if (!onPath) throw new BridgeError('BRIDGE_ERR_LAB_BUILD_FAILED', 'no kubectl on PATH', { fix: 'install kubectl' });
  const binary = realpathSync(onPath);
  const version = clientVersion(binary);
  if (!version.includes('dispatcher')) return { binary, version };
  const minor = (name: string) => Number(/^kubectl\.1\.(\d+)$/.exec(name)?.[1] ?? -1);
  const newest = readdirSync(dirname(binary))
    .filter((n) => minor(n) >= 0)
    .sort((a, b) => minor(b) - minor(a))[0];
  if (!newest) throw new BridgeError('BRIDGE_ERR_LAB_BUILD_FAILED', `${binary} is a dispatcher with no kubectl.1.N beside it`);
  const real = join(dirname(binary), newest);
  return { binary: real, version: clientVersion(real) };
}

/** Builds (when its key is new) and exports the workload image; returns the archive for `ctr images import`. */
export async function ensureWorkloadImage(): Promise<WorkloadImage> {
  ensureImageTools();
  const source = hostDebianSource();
  const kubectl = machineKubectl();
  const key = sha256(
    JSON.stringify({
      suite: source.suite,
      sources: readFileSync(source.sourcesFile, 'utf8'),
      packages: PACKAGES,
      excluded: EXCLUDED_PATHS,
      kubectl: sha256(readFileSync(kubectl.binary)),
      files: [PASSWD, GROUP, CONTAINERFILE],
    }),
  ).slice(0, 12);
  const dir = imagesCacheDir();
  const log = join(dir, 'build.log');
  const reference = `cluster-bridge/workload-clients:${key}`;
  const tarball = join(dir, `workload-clients-${key}.tar`);
  if (existsSync(tarball)) return { reference, tarball, kubectlVersion: kubectl.version, built: false };
  if (!(await imageId(reference))) {
    const work = join(dir, `workload-${key}`);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(join(work, 'tree', 'usr', 'local', 'bin'), { recursive: true });
    mkdirSync(join(work, 'tree', 'etc'), { recursive: true });
    try {
      await debianRootfs(source, PACKAGES, join(work, 'rootfs.tar'), log);
      await runTool('cp', [kubectl.binary, join(work, 'tree', 'usr', 'local', 'bin', 'kubectl')], log);
      writeFileSync(join(work, 'tree', 'etc', 'passwd'), PASSWD);
      writeFileSync(join(work, 'tree', 'etc', 'group'), GROUP);
      await tarFolder(join(work, 'tree'), join(work, 'kubectl.tar'), log);
      await buildImageFromContext(reference, CONTAINERFILE, work, log);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  await exportOnce(reference, (await imageId(reference))!, tarball, log);
  return { reference, tarball, kubectlVersion: kubectl.version, built: true };
}
