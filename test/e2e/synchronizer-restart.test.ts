/**
 * The synchronizer killed (SIGKILL, a real process) in the middle of the initial sync of 5,000 custom
 * resources, then started again: it ends with both clusters holding the same 5,000 objects, none lost,
 * none duplicated or left half-written, each copy naming the source object it mirrors. A custom
 * resource type of its own (installed in both clusters) keeps this test's writes apart from every
 * other suite's, and a Lease of its own keeps other synchronizers on the lab out of its way.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labComponentsKubeconfig } from '../../lab/install-bridge.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { MIRROR_OF_UID_ANNOTATION, SYSTEM_NAMESPACE } from '../../lib/names.js';
import { generateCa, issueCertificate } from '../../lib/tls/pki.js';
import { freePort } from '../../lab/ports.js';
import { waitUntil } from '../../lib/wait-until.js';
import type { SyncStatus } from '../../synchronizer/server.js';
import { createNamespace, kubeconfigPath, uniqueName } from '../helpers/lab-clients.js';

const OBJECTS = 5000;
const group = `${uniqueName('restart')}.e2e.cluster-bridge.io`;
const SHARD = `widgets.${group}`;
const leaseName = uniqueName('e2e-sync-restart');
const source = KubeRestClient.load(kubeconfigPath('source'));
const destination = KubeRestClient.load(kubeconfigPath('destination'));
let namespace: string;
let env: NodeJS.ProcessEnv;
const children: ChildProcess[] = [];

const CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: SHARD },
  spec: {
    group,
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } },
      },
    ],
  },
};
const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
const widgets = (ns: string) => `/apis/${group}/v1/namespaces/${ns}/widgets`;

interface Widget {
  metadata: { name: string; uid: string; annotations?: Record<string, string> };
  spec: { index: number; payload: string };
}

async function listWidgets(client: KubeRestClient): Promise<Widget[]> {
  const got = await client.request<{ items: Widget[] }>('GET', widgets(namespace));
  return got.status === 200 ? got.body.items : [];
}

/** A synchronizer as its own process, mirroring only this test's shard under this test's Lease. */
function startSynchronizer(opsPort: number): ChildProcess {
  const main = join(process.cwd(), 'dist', 'synchronizer', 'server.js');
  const config = join(process.cwd(), 'dist', 'synchronizer', 'config.js');
  const logger = join(process.cwd(), 'dist', 'lib', 'process', 'logger.js');
  const script =
    `const { startSynchronizer } = await import(${JSON.stringify(main)}); const { loadSyncConfig } = await import(${JSON.stringify(config)});` +
    `const { createLogger } = await import(${JSON.stringify(logger)});` +
    `await startSynchronizer({ ...loadSyncConfig(process.env), leaseName: process.env.E2E_LEASE }, createLogger('sync-restart-e2e'));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...env, BRIDGE_OPS_PORT: String(opsPort) }, stdio: 'ignore' });
  children.push(child);
  return child;
}

async function progress(opsPort: number) {
  const status = (await (await fetch(`http://127.0.0.1:${opsPort}/status`)).json()) as SyncStatus;
  return status.mirrors.find((m) => m.shard === SHARD);
}

beforeAll(async () => {
  for (const client of [source, destination]) {
    await client.expect('POST', CRD_PATH, [201], CRD);
    await waitUntil(`the Widget CRD served by ${client === source ? 'the source' : 'the destination'}`, async () =>
      (await client.request('GET', `/apis/${group}/v1`)).status === 200 ? true : undefined,
    );
  }
  namespace = await createNamespace('source', 'sync-restart');
  const dir = mkdtempSync(join(tmpdir(), 'sync-restart-'));
  const ca = await generateCa('sync-restart-e2e-ca');
  const serving = await issueCertificate(ca, { commonName: 'sync-restart-e2e', ipAddresses: ['127.0.0.1'], usage: 'server' });
  writeFileSync(join(dir, 'tls.crt'), serving.certPem);
  writeFileSync(join(dir, 'tls.key'), serving.keyPem);
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  env = {
    ...process.env,
    BRIDGE_SOURCE_KUBECONFIG: await labComponentsKubeconfig('source'),
    BRIDGE_DESTINATION_KUBECONFIG: kubeconfigPath('destination'),
    BRIDGE_LISTEN_HOST: '127.0.0.1',
    BRIDGE_LISTEN_PORT: '0',
    BRIDGE_OPS_HOST: '127.0.0.1',
    BRIDGE_TLS_DIR: dir,
    BRIDGE_SHARDS: SHARD,
    BRIDGE_LEASE_DURATION_SECONDS: '3',
    BRIDGE_LOG_LEVEL: 'warn',
    E2E_LEASE: leaseName,
  };
  const started = Date.now();
  for (let i = 0; i < OBJECTS; i += 50) {
    await Promise.all(
      Array.from({ length: 50 }, (_, j) =>
        source.expect('POST', widgets(namespace), [201], {
          apiVersion: `${group}/v1`,
          kind: 'Widget',
          metadata: { name: `w-${i + j}` },
          spec: { index: i + j, payload: 'x'.repeat(100) },
        }),
      ),
    );
  }
  process.stderr.write(`created ${OBJECTS} widgets in the source in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}, 600_000);

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  for (const client of [source, destination]) {
    await client.request('DELETE', `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    await client.request('DELETE', `${CRD_PATH}/${SHARD}`).catch(() => undefined);
    await client.request('DELETE', `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases/${leaseName}`).catch(() => undefined);
    client.close();
  }
}, 120_000);

describe('a synchronizer killed during the initial sync of 5,000 objects', () => {
  it('ends, once started again, with both clusters equal: nothing lost, nothing duplicated', async () => {
    const firstOps = await freePort();
    const first = startSynchronizer(firstOps);
    const started = Date.now();
    // Killed once a good part, but not all, of the objects are on the destination.
    await waitUntil(
      'the first synchronizer to mirror 1,500 widgets',
      async () => ((await progress(firstOps).catch(() => undefined))?.done ?? 0) >= 1500 || undefined,
      { timeoutMs: 300_000, intervalMs: 100 },
    );
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    const atKill = (await listWidgets(destination)).length;
    process.stderr.write(`killed after ${((Date.now() - started) / 1000).toFixed(1)} s with ${atKill} of ${OBJECTS} widgets on the destination\n`);
    expect(atKill).toBeGreaterThanOrEqual(1500);
    expect(atKill).toBeLessThan(OBJECTS);

    const secondOps = await freePort();
    startSynchronizer(secondOps);
    const restarted = Date.now();
    await waitUntil(
      'the restarted synchronizer to finish the initial sync',
      async () => (await progress(secondOps).catch(() => undefined))?.initialSyncComplete || undefined,
      {
        timeoutMs: 300_000,
        intervalMs: 200,
      },
    );
    process.stderr.write(`restarted synchronizer completed the initial sync in ${((Date.now() - restarted) / 1000).toFixed(1)} s\n`);

    const inSource = new Map((await listWidgets(source)).map((w) => [w.metadata.name, w]));
    const inDestination = await listWidgets(destination);
    expect(inSource.size).toBe(OBJECTS);
    expect(inDestination).toHaveLength(OBJECTS);
    const wrong = inDestination.filter((copy) => {
      const original = inSource.get(copy.metadata.name);
      return (
        !original ||
        copy.metadata.annotations?.[MIRROR_OF_UID_ANNOTATION] !== original.metadata.uid ||
        JSON.stringify(copy.spec) !== JSON.stringify(original.spec)
      );
    });
    expect(wrong.map((w) => w.metadata.name)).toEqual([]);
    const final = (await progress(secondOps))!;
    expect(final).toMatchObject({ total: OBJECTS, done: OBJECTS, errors: {} });
  }, 900_000);
});
