/**
 * The few buildah calls the lab needs, daemonless, against buildah's local storage. Every build runs with
 * chroot isolation: here, root lacks CAP_SYS_RESOURCE and cgroups are v1 hybrid, where buildah's default
 * OCI isolation (runc with rlimits and cgroups) does not start; chroot isolation needs neither.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { runTool } from './tool.js';

const execFileAsync = promisify(execFile);

/** What the image config says to run; the runc check builds its OCI process from it. */
export interface ImageConfig {
  id: string;
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
  user: string;
}

/** The image's ID in local storage, or undefined when there is no such image. */
export async function imageId(reference: string): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync('buildah', ['inspect', '--type', 'image', '--format', '{{.FromImageID}}', reference]);
    return stdout.trim();
  } catch {
    return undefined;
  }
}

export async function imageConfig(reference: string, log: string): Promise<ImageConfig> {
  const { stdout } = await runTool('buildah', ['inspect', '--type', 'image', reference], log);
  const inspected = JSON.parse(stdout) as {
    FromImageID: string;
    OCIv1: { config?: { Entrypoint?: string[]; Cmd?: string[]; Env?: string[]; WorkingDir?: string; User?: string } };
  };
  const config = inspected.OCIv1.config ?? {};
  return {
    id: inspected.FromImageID,
    entrypoint: config.Entrypoint ?? [],
    cmd: config.Cmd ?? [],
    env: config.Env ?? [],
    workingDir: config.WorkingDir || '/',
    user: config.User ?? '0',
  };
}

/** A working container of the image, mounted: its root filesystem is what runc runs. */
export async function mountImage(reference: string, name: string, log: string): Promise<string> {
  await runTool('buildah', ['from', '--pull=never', '--name', name, reference], log);
  const { stdout } = await runTool('buildah', ['mount', name], log);
  return stdout.trim();
}

export async function removeContainer(name: string, log: string): Promise<void> {
  await runTool('buildah', ['rm', name], log).catch(() => undefined);
}

/** A docker-archive (what `ctr images import` and `docker load` read) named by the image's own reference. */
export async function exportDockerArchive(reference: string, tarball: string, log: string): Promise<void> {
  await runTool('buildah', ['push', '--quiet', reference, `docker-archive:${tarball}:${reference}`], log);
}
