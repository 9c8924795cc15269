/**
 * The lab's files: where its state, kubeconfigs and admin credentials live. Kept apart from starting
 * and stopping (lab.ts), so installers and tests read the lab without importing its lifecycle.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readPemPair } from '../certs/cert-files.js';
import { BridgeError } from '../lib/errors.js';
import { labDir } from '../lib/process/paths.js';
import { AUDIT_LOG_NAME, type ClusterName, type ControlPlaneState } from './control-plane.js';
import type { DaemonRecord } from './process.js';

/**
 * What a lab built by this code has; a lab started by older code is replaced rather than reused.
 * 2: the fake node serves the kubelet API (exec, logs, attach, port-forward).
 * 3: kube-apiserver writes an audit log (every request's verb and object, as the API server parsed them).
 * 4: the destination's kube-controller-manager runs without the workload controllers (lib/mirror/workload-controllers.ts).
 */
export const LAB_LAYOUT = 4;

export interface LabState {
  /** Absent in labs older than layout 2. */
  layout?: number;
  kubernetesVersion: string;
  startedAt: string;
  clusters: Record<ClusterName, ControlPlaneState>;
}

const statePath = () => join(labDir(), 'state.json');
export const kubeconfigPath = (cluster: ClusterName) => join(labDir(), `${cluster}.kubeconfig`);
/** kube-apiserver's audit log (JSON lines, level Metadata): how the API server itself read each request. */
export const auditLogPath = (cluster: ClusterName) => join(labDir(), cluster, 'logs', AUDIT_LOG_NAME);

export function readLabState(): LabState | undefined {
  if (!existsSync(statePath())) return undefined;
  return JSON.parse(readFileSync(statePath(), 'utf8')) as LabState;
}

export function writeLabState(state: LabState): void {
  const tmp = `${statePath()}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2));
  renameSync(tmp, statePath());
}

export function removeLabState(): void {
  rmSync(statePath(), { force: true });
}

/** The lab admin's client certificate and the cluster CA, as a TLS client needs them. */
export function adminCredentials(cluster: ClusterName) {
  const pki = join(labDir(), cluster, 'pki');
  return { caPem: readFileSync(join(pki, 'ca.crt'), 'utf8'), ...readPemPair(join(pki, 'admin.crt'), join(pki, 'admin.key')) };
}

export function requireLab(): LabState {
  const state = readLabState();
  if (!state) throw new BridgeError('BRIDGE_ERR_LAB_NOT_RUNNING', 'the lab is not running');
  return state;
}

const startingPath = () => join(labDir(), 'starting.json');

/** Processes of a `lab up` still under way (or interrupted): recorded one by one as they start. */
export function readStartingDaemons(): DaemonRecord[] {
  if (!existsSync(startingPath())) return [];
  return JSON.parse(readFileSync(startingPath(), 'utf8')) as DaemonRecord[];
}

export function recordStartingDaemon(daemon: DaemonRecord): void {
  const tmp = `${startingPath()}.tmp`;
  writeFileSync(tmp, JSON.stringify([...readStartingDaemons(), daemon], null, 2));
  renameSync(tmp, startingPath());
}

export function clearStartingDaemons(): void {
  rmSync(startingPath(), { force: true });
}
