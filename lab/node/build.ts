/**
 * Builds what a real lab node runs that Debian does not ship: the kubelet from the same
 * k8s.io/kubernetes module as the control plane, the pause binary from that module's build/pause
 * source, and the in-pod check program; cached by version beside the control-plane binaries.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BridgeError, errorMessage } from '../../lib/errors.js';
import { cacheDir, repoRoot } from '../../lib/process/paths.js';
import { allPresent, binDir, buildInto, ensureGo, go, kubernetesBuildModule, timedStep, upstreamKubernetesGoMod, versionLdflags } from '../build.js';

const execFileAsync = promisify(execFile);

/** Bumped when the pause or check program's build changes, so their cache is rebuilt (the kubelet's is not). */
export const NODE_TOOLS_REVISION = 'r4';

export interface NodeBinaries {
  kubelet: string;
  /** Static pause binary for the sandbox image. */
  pause: string;
  /** Static in-pod program (lab/go/incluster-check) for the test image. */
  inclusterCheck: string;
  /** Where the pause and check binaries are, and where their images are built. */
  toolsDir: string;
}

function kubeletDir(version: string): string {
  return binDir('kubelet', version);
}

function toolsDir(version: string): string {
  return binDir('node-tools', `${version}-${NODE_TOOLS_REVISION}`);
}

async function gccPause(moduleDir: string, version: string, out: string): Promise<void> {
  const source = join(moduleDir, 'build', 'pause', 'linux', 'pause.c');
  try {
    // Static, so the image needs no libc; VERSION is what `pause -v` prints.
    await execFileAsync('gcc', ['-Os', '-static', '-Wall', '-Werror', `-DVERSION=${version}-lab`, '-o', out, source]);
    await execFileAsync('strip', [out]);
  } catch (err) {
    throw new BridgeError('BRIDGE_ERR_LAB_BUILD_FAILED', `cannot compile ${source}: ${errorMessage(err).split('\n').slice(-2).join(' ')}`, {
      fix: 'install gcc and libc6-dev (`lab up --real-node` installs them with apt-get when run as root)',
      cause: err,
    });
  }
}

/** The module generated for `version` (as lab/build.ts makes it, with the kubelet's imports), tidied. */
async function nodeModule(version: string): Promise<{ srcDir: string; moduleDir: string }> {
  const srcDir = join(cacheDir(), 'src', `kubernetes-node-${version}`);
  const upstream = await upstreamKubernetesGoMod(version, join(cacheDir(), 'src', 'probe'));
  mkdirSync(srcDir, { recursive: true });
  writeFileSync(join(srcDir, 'go.mod'), kubernetesBuildModule(version, upstream));
  copyFileSync(join(repoRoot(), 'lab', 'go', 'kubernetes-node', 'tools.go'), join(srcDir, 'tools.go'));
  await go(['mod', 'tidy'], srcDir);
  return { srcDir, moduleDir: (await go(['list', '-m', '-f', '{{.Dir}}', 'k8s.io/kubernetes'], srcDir)).trim() };
}

/** The node's binaries for `version`, built on first use (kubelet: about 2 min with a warm Go cache). */
export async function ensureNodeBinaries(
  version: string,
  progress: (line: string) => void = () => {},
): Promise<{ binaries: NodeBinaries; builtSeconds: number }> {
  const kubelet = kubeletDir(version);
  const tools = toolsDir(version);
  const binaries: NodeBinaries = {
    kubelet: join(kubelet, 'kubelet'),
    pause: join(tools, 'pause'),
    inclusterCheck: join(tools, 'incluster-check'),
    toolsDir: tools,
  };
  const needKubelet = !allPresent(kubelet, ['kubelet']);
  const needTools = !allPresent(tools, ['pause', 'incluster-check']);
  if (!needKubelet && !needTools) return { binaries, builtSeconds: 0 };
  await ensureGo();
  const started = Date.now();
  if (needKubelet) progress(`building the kubelet ${version} for the real nodes; the first build takes a few minutes`);
  await timedStep(progress, `node binaries ${version}`, async (phase) => {
    phase('downloading modules');
    const { srcDir, moduleDir } = await nodeModule(version);
    if (needKubelet) {
      phase('compiling the kubelet');
      await buildInto(kubelet, (out) =>
        go(['build', '-trimpath', `-ldflags=${versionLdflags(version)}`, '-o', join(out, 'kubelet'), 'k8s.io/kubernetes/cmd/kubelet'], srcDir).then(
          () => undefined,
        ),
      );
    }
    if (needTools) {
      phase('compiling pause and incluster-check');
      await buildInto(tools, async (out) => {
        await gccPause(moduleDir, version, join(out, 'pause'));
        const checkSrc = join(repoRoot(), 'lab', 'go', 'incluster-check');
        await go(['build', '-trimpath', '-ldflags=-s -w', '-o', join(out, 'incluster-check'), '.'], checkSrc, { CGO_ENABLED: '0' });
      });
    }
  });
  return { binaries, builtSeconds: (Date.now() - started) / 1000 };
}
