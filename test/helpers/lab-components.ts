/**
 * The components `bridgectl lab install` started, as fault drills need them: killed (SIGKILL) and started
 * again with the very command line and environment they had (read from /proc before the kill), on the
 * same ports, recorded for `lab down`; and a writer of ConfigMaps through the lab's sidecar.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readInstalledDaemons, recordInstalledDaemons } from '../../lab/install.js';
import { isDaemonAlive, readLaunch, relaunch, type DaemonRecord } from '../../lab/process.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { labDir } from '../../lib/process/paths.js';
import type { KindWrites } from './background-writer.js';

export const installedComponent = (name: string): DaemonRecord => readInstalledDaemons().find((d) => d.name === name)!;

/** Kills the component with SIGKILL; `restart()` starts it again as it was. */
export async function killComponent(name: string): Promise<{ restart(): DaemonRecord }> {
  const record = installedComponent(name);
  const launch = readLaunch(record);
  if (!launch) throw new Error(`the lab ${name} (pid ${record.pid}) is not running`);
  process.kill(record.pid, 'SIGKILL');
  while (isDaemonAlive(record)) await sleep(50);
  return {
    restart() {
      const started = relaunch(launch);
      recordInstalledDaemons(readInstalledDaemons().map((d) => (d.name === name ? started : d)));
      return started;
    },
  };
}

/** What a client saw answered that is not success, by status (0: no answer). */
export interface StatusError {
  code: number;
  headers: Record<string, string>;
  message: string;
}

/** ConfigMap writes through the lab's sidecar as its stand-in pod (.lab/workload.kubeconfig); errors carry the HTTP status for retrying503. */
export function sidecarConfigMapWrites(namespace: string): { writes: KindWrites; client: KubeRestClient } {
  const client = KubeRestClient.load(join(labDir(), 'workload.kubeconfig'));
  const collection = `/api/v1/namespaces/${namespace}/configmaps`;
  const call = async (method: string, path: string, body?: unknown, patch = false) => {
    // No deadline of its own to speak of, as client-go's default: a call to a stalled API server waits for it.
    const answer = await client.request<{ message?: string }>(method, path, body, { timeoutMs: 120_000, ...(patch ? { patchType: 'merge' as const } : {}) });
    if (answer.status >= 200 && answer.status < 300) return;
    const error: StatusError = { code: answer.status, headers: {}, message: `${method} ${path}: HTTP ${answer.status}: ${answer.body?.message ?? ''}` };
    throw Object.assign(new Error(error.message), error);
  };
  /** A 502 (in flight at a process that died: it may have run) is settled as a careful client would: look, then write again. */
  const settling502 = async (write: () => Promise<void>, ran: () => Promise<boolean>) => {
    try {
      await write();
    } catch (err) {
      if ((err as StatusError).code !== 502) throw err;
      if (!(await ran())) await write();
    }
  };
  /** Whether the object exists, asked until the answer is not a 503 (the bridge holding or between owners). */
  const exists = async (name: string): Promise<boolean> => {
    for (let tries = 0; ; tries++) {
      const { status } = await client.request('GET', `${collection}/${name}`, undefined, { timeoutMs: 120_000 });
      if (status === 200 || status === 404) return status === 200;
      if (status !== 503 || tries > 60) throw new Error(`GET ${collection}/${name}: HTTP ${status}`);
      await sleep(1000);
    }
  };
  return {
    client,
    writes: {
      create: (name, value) =>
        settling502(
          () => call('POST', collection, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { value } }),
          () => exists(name),
        ),
      update: (name, value) =>
        settling502(
          () => call('PATCH', `${collection}/${name}`, { data: { value } }, true),
          async () => false,
        ),
      remove: (name) =>
        settling502(
          () => call('DELETE', `${collection}/${name}`),
          async () => !(await exists(name)),
        ),
    },
  };
}
