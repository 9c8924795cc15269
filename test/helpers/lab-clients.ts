/** Real clients for e2e tests: kubectl, @kubernetes/client-node and Debian's python3-kubernetes. */
import { waitUntil } from '../../lib/wait-until.js';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { kubeconfigPath, requireLab } from '../../lab/lab-files.js';
import type { ClusterName } from '../../lab/control-plane.js';

const execFileAsync = promisify(execFile);

export { kubeconfigPath };

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command and never throws on a non-zero exit: tests assert on the result. */
export function run(cmd: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: options.env ?? process.env, cwd: options.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.input);
  });
}

export function kubectl(cluster: ClusterName | string, args: string[], input?: string): Promise<RunResult> {
  const config = cluster === 'source' || cluster === 'destination' ? kubeconfigPath(cluster) : cluster;
  return run('kubectl', ['--kubeconfig', config, ...args], { input });
}

/** kubectl that must succeed; returns stdout. */
export async function kubectlOk(cluster: ClusterName | string, args: string[], input?: string): Promise<string> {
  const result = await kubectl(cluster, args, input);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** A fresh namespace for one test. */
export async function createNamespace(cluster: ClusterName, prefix = 'e2e', labels: Record<string, string> = {}): Promise<string> {
  const name = uniqueName(prefix);
  await kubectlOk(cluster, ['create', 'namespace', name]);
  if (Object.keys(labels).length > 0) {
    await kubectlOk(cluster, ['label', 'namespace', name, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)]);
  }
  return name;
}

export function kubeConfigFor(cluster: ClusterName): k8s.KubeConfig {
  requireLab();
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath(cluster));
  return kc;
}

export const PYTHON = '/usr/bin/python3';

export function pythonScript(name: string): string {
  return join(process.cwd(), 'test', 'helpers', 'python', name);
}

export interface ListedObject {
  metadata: { name: string; resourceVersion: string };
  [field: string]: unknown;
}

/** A list of `path` (like /api/v1/namespaces/NS/secrets) as python3-kubernetes gets it. */
export async function pythonList(kubeconfig: string, path: string): Promise<{ metadata: { resourceVersion: string }; items: ListedObject[] }> {
  const result = await run(PYTHON, [pythonScript('list_objects.py'), kubeconfig, path]);
  if (result.code !== 0) throw new Error(`python3-kubernetes could not list ${path} (${result.code}): ${result.stderr.trim().split('\n').pop()}`);
  return JSON.parse(result.stdout) as { metadata: { resourceVersion: string }; items: ListedObject[] };
}

/** Running, not a zombie waiting for init to reap it (a zombie holds no ports and runs nothing). */
export function isProcessRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] !== 'Z';
  } catch {
    return false;
  }
}

export { execFileAsync };

/** Waits until the namespace's RoleBindings are on the destination: the bridge acts there as the workload, whose rights must have arrived first. */
export async function waitForRoleBindingsOnDestination(namespace: string): Promise<void> {
  await waitUntil('the RoleBinding mirrored to the destination', async () =>
    (await kubectl('destination', ['-n', namespace, 'get', 'rolebinding', '-o', 'name'])).stdout.trim() ? true : undefined,
  );
}
