/**
 * The in-pod workloads of test/pod-clients/ (kubectl in a shell loop, python3-kubernetes) as pods on a
 * lab's real node: their image (lab/images/workload-image.ts, cached by its inputs) imported into the
 * node's containerd, each program passed as the container's command (a program change needs no new
 * image), stopped through `kubectl exec` (a file the loop checks), and its summary read back with
 * `kubectl logs`: both go through the API server to the real kubelet.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureWorkloadImage } from '../../lab/images/workload-image.js';
import { REAL_NODE_NAME } from '../../lab/node/kubelet-config.js';
import { waitUntil } from '../../lib/wait-until.js';
import { kubectlOk } from './lab-clients.js';
import { importImage } from './manifest-install.js';

export type PodClient = 'kubectl' | 'python';

const PROGRAMS: Record<PodClient, { file: string; command: (program: string) => string[] }> = {
  kubectl: { file: 'kubectl-workload.sh', command: (program) => ['/bin/sh', '-c', program] },
  python: { file: 'python-workload.py', command: (program) => ['/usr/bin/python3', '-c', program] },
};

/** One JSON line a program printed: an error, a watch that ended with one, or its summary. */
export interface ClientLine {
  client: PodClient;
  event: 'error' | 'watch-ended' | 'summary' | 'started';
  op?: string;
  detail?: string;
  [field: string]: unknown;
}

export interface ClientReport {
  lines: ClientLine[];
  summary: Record<string, unknown> | undefined;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
}

let imported: Promise<{ reference: string; kubectlVersion: string }> | undefined;

/** Imports the workload image into the source's real node once per test file; returns what a pod names. */
export function importWorkloadImage(): Promise<{ reference: string; kubectlVersion: string }> {
  imported ??= (async () => {
    const image = await ensureWorkloadImage();
    await importImage('source', image.tarball);
    return { reference: image.reference, kubectlVersion: image.kubectlVersion };
  })();
  return imported;
}

/** The pod: the program as its only app container, non-root, on the real node, never restarted. */
export function clientPod(client: PodClient, namespace: string, name: string, image: string): object {
  const program = readFileSync(join(process.cwd(), 'test', 'pod-clients', PROGRAMS[client].file), 'utf8');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { client } },
    spec: {
      nodeSelector: { 'kubernetes.io/hostname': REAL_NODE_NAME },
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 1,
      securityContext: { runAsNonRoot: true, runAsUser: 65532 },
      containers: [{ name: 'app', image, imagePullPolicy: 'Never', command: PROGRAMS[client].command(program) }],
    },
  };
}

/** The workload image doing nothing (`sleep`): a shell to run kubectl from inside a pod. */
export function idlePod(namespace: string, name: string, image: string): object {
  const pod = clientPod('kubectl', namespace, name, image) as { spec: { containers: { command: string[] }[] } };
  pod.spec.containers[0]!.command = ['sleep', '3600'];
  return pod;
}

export async function startClientPod(client: PodClient | 'idle', namespace: string, name: string, image: string): Promise<void> {
  const pod = client === 'idle' ? idlePod(namespace, name, image) : clientPod(client, namespace, name, image);
  await kubectlOk('source', ['apply', '-f', '-'], JSON.stringify(pod));
  await waitUntil(
    `${namespace}/${name} running`,
    async () => {
      const phase = await kubectlOk('source', ['-n', namespace, 'get', 'pod', name, '-o', 'jsonpath={.status.phase}']);
      if (phase === 'Failed' || phase === 'Succeeded') throw new Error(`${name} ended before it was stopped: ${phase}`);
      return phase === 'Running';
    },
    { timeoutMs: 120_000, intervalMs: 250 },
  );
}

export function parseClientLines(logs: string): ClientLine[] {
  return logs
    .split('\n')
    .filter((line) => line.startsWith('{"client"'))
    .map((line) => JSON.parse(line) as ClientLine);
}

/** Waits until the pod's `app` container has terminated: its exit code and the span it ran (ms; the timestamps have whole seconds). */
export async function appEnded(namespace: string, name: string, timeoutMs: number): Promise<{ exitCode: number; startedAt: number; finishedAt: number }> {
  const ended = await waitUntil(
    `${namespace}/${name} ended`,
    async () => {
      const pod = JSON.parse(await kubectlOk('source', ['-n', namespace, 'get', 'pod', name, '-o', 'json'])) as {
        status: { containerStatuses?: { name: string; state: { terminated?: { exitCode: number; startedAt: string; finishedAt: string } } }[] };
      };
      return pod.status.containerStatuses?.find((c) => c.name === 'app')?.state.terminated;
    },
    { timeoutMs, intervalMs: 250 },
  );
  return { exitCode: ended.exitCode, startedAt: Date.parse(ended.startedAt), finishedAt: Date.parse(ended.finishedAt) + 1000 };
}

/** Stops the program (exec: touch /tmp/stop), waits for it to end, and reads its lines from its log. */
export async function stopClientPod(namespace: string, name: string): Promise<ClientReport> {
  await kubectlOk('source', ['-n', namespace, 'exec', name, '-c', 'app', '--', 'touch', '/tmp/stop']);
  const ended = await appEnded(namespace, name, 90_000);
  const lines = parseClientLines(await kubectlOk('source', ['-n', namespace, 'logs', name, '-c', 'app']));
  return { lines, summary: lines.find((l) => l.event === 'summary'), ...ended };
}
