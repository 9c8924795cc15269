/**
 * What the lab's pods can do beyond running: kwok serves the kubelet API of the fake node, and this
 * configuration answers every pod's exec, logs, attach and port-forward from local processes and
 * files, so kube-apiserver's streaming proxy (and the bridge in front of it) carries real streams:
 * - exec runs the requested command on the host, in `<cluster>/pod-exec/` (stdin, tty and exit code
 *   pass through);
 * - logs and attach stream `<cluster>/pod-logs/containers.log`, which tests append to (in the CRI
 *   log format the kubelet reads, `appendPodLog`);
 * - port-forward to any port runs `cat`, so whatever is sent comes back.
 */
import { appendFileSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

export interface KubeletStreaming {
  configFile: string;
  execDir: string;
  logsFile: string;
}

/** The one fake node of each lab cluster, kept Ready by kwok. */
export const LAB_NODE_NAME = 'lab-node-0';

const KWOK_API = 'kwok.x-k8s.io/v1alpha1';

const clusterWide = (kind: string, spec: object) => ({ apiVersion: KWOK_API, kind, metadata: { name: `lab-${kind.toLowerCase()}` }, spec });

/** Writes kwok's Cluster* configuration for one lab cluster and the folders it points at. */
export function writeKubeletStreaming(clusterDir: string): KubeletStreaming {
  const execDir = join(clusterDir, 'pod-exec');
  const logsDir = join(clusterDir, 'pod-logs');
  mkdirSync(execDir, { recursive: true });
  mkdirSync(logsDir, { recursive: true });
  const logsFile = join(logsDir, 'containers.log');
  // kwok reads the format from the first line, so the file never starts empty.
  if (!existsSync(logsFile) || statSync(logsFile).size === 0) appendPodLog(logsFile, 'lab pod logs start here');
  const documents = [
    clusterWide('ClusterExec', { execs: [{ local: { workDir: execDir } }] }),
    clusterWide('ClusterLogs', { logs: [{ logsFile, follow: true }] }),
    clusterWide('ClusterAttach', { attaches: [{ logsFile }] }),
    clusterWide('ClusterPortForward', { forwards: [{ command: ['cat'] }] }),
  ];
  const configFile = join(clusterDir, 'kwok-streaming.yaml');
  writeFileSync(configFile, documents.map((d) => stringify(d)).join('---\n'));
  return { configFile, execDir, logsFile };
}

/** Appends one line to a lab pod log, in the CRI format the kubelet (and kwok) read: `<time> stdout F <text>`. */
export function appendPodLog(logsFile: string, text: string): void {
  appendFileSync(logsFile, `${new Date().toISOString()} stdout F ${text}\n`);
}
