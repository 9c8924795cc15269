/**
 * Two synchronizer replicas on the lab's clusters: only the Lease holder mirrors (the other is not
 * ready and answers catch-up questions with 503), and when the leader stops, the standby takes over
 * and mirrors what the owner wrote meanwhile. Each object is written to the replica side once.
 * `bridgectl sync status` shows the leader's progress and the standby's role.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request } from 'node:https';
import { join } from 'node:path';
import { labComponentsKubeconfig } from '../../lab/install-bridge.js';
import { throwawayTls } from '../../lab/local-synchronizer.js';
import { issueComponentClientCert } from '../../certs/bridge-certs.js';
import { AGGREGATOR_SERVICE } from '../../lib/names.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import type { CertificateAndKey } from '../../lib/tls/pki.js';
import { SOURCE_PINNED_SHARDS } from '../../lib/routing/resource-classes.js';
import { waitUntil } from '../../lib/wait-until.js';
import { loadSyncConfig } from '../../synchronizer/config.js';
import { startSynchronizer, type RunningSynchronizer, type SyncStatus } from '../../synchronizer/server.js';
import { createNamespace, kubeconfigPath, run, uniqueName } from '../helpers/lab-clients.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';

/** Pod templates: movable, and no other suite mirrors them, so this test's writes are its own. */
const SHARD = 'podtemplates';

let ca: CertificateAndKey;
let client: CertificateAndKey;
let tlsDir: string;
let source: KubeRestClient;
let destination: KubeRestClient;
let namespace: string;
const leaseName = uniqueName('e2e-sync-lease');

async function replica(): Promise<RunningSynchronizer> {
  const config = loadSyncConfig({
    BRIDGE_SOURCE_KUBECONFIG: await labComponentsKubeconfig('source'),
    BRIDGE_DESTINATION_KUBECONFIG: kubeconfigPath('destination'),
    BRIDGE_LISTEN_HOST: '127.0.0.1',
    BRIDGE_LISTEN_PORT: '0',
    BRIDGE_OPS_HOST: '127.0.0.1',
    BRIDGE_OPS_PORT: '0',
    BRIDGE_TLS_DIR: tlsDir,
    BRIDGE_SHARDS: SHARD,
    BRIDGE_LEASE_DURATION_SECONDS: '6',
  });
  return startSynchronizer({ ...config, leaseName }, silentLog);
}

function catchUpStatus(sync: RunningSynchronizer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      `https://127.0.0.1:${sync.port}/v1/catchup?shard=${SHARD}&from=source&rv=1`,
      { ca: ca.certPem, cert: client.certPem, key: client.keyPem, agent: false },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');
const syncStatus = (sync: RunningSynchronizer, extra: string[] = []) =>
  run(process.execPath, [CLI, 'sync', 'status', '--url', `http://127.0.0.1:${sync.opsPort}`, ...extra]);

const readyz = async (sync: RunningSynchronizer) => (await fetch(`http://127.0.0.1:${sync.opsPort}/readyz`)).status;
// This shard's only: the cluster RBAC mirrors (docs/adr/0013) copy what other suites left on the source.
const writesOf = async (sync: RunningSynchronizer) => (await sync.writes.get()).values.filter((v) => v.labels.shard === SHARD).reduce((n, v) => n + v.value, 0);

async function createTemplate(name: string, inNamespace = namespace): Promise<void> {
  await source.expect('POST', `/api/v1/namespaces/${inNamespace}/podtemplates`, [201], {
    metadata: { name },
    template: { spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] } },
  });
}

const mirrored = async (name: string, inNamespace = namespace) =>
  (await destination.request('GET', `/api/v1/namespaces/${inNamespace}/podtemplates/${name}`)).status === 200;

beforeAll(async () => {
  const tls = await throwawayTls('sync-leader-e2e');
  ({ ca, dir: tlsDir } = tls);
  client = await issueComponentClientCert(tls.issuers.componentClient, AGGREGATOR_SERVICE);
  source = KubeRestClient.load(kubeconfigPath('source'));
  destination = KubeRestClient.load(kubeconfigPath('destination'));
  namespace = await createNamespace('source', 'sync-lease');
});

afterAll(() => {
  source.close();
  destination.close();
});

describe('synchronizer replicas', () => {
  it('mirror from one leader at a time, and the standby takes over when the leader stops', async () => {
    const replicas = [await replica(), await replica()];
    const [first, second] = replicas as [RunningSynchronizer, RunningSynchronizer];
    const closed = new Set<RunningSynchronizer>();
    const close = async (sync: RunningSynchronizer) => {
      if (closed.has(sync)) return;
      closed.add(sync);
      await sync.close();
    };
    try {
      await waitUntil('one replica to lead', () => first.isLeader() !== second.isLeader());
      const [leader, standby] = first.isLeader() ? [first, second] : [second, first];
      expect(await readyz(leader)).toBe(200);
      expect(await readyz(standby)).toBe(503);
      expect(await catchUpStatus(standby)).toBe(503);
      expect(await catchUpStatus(leader)).toBe(200);

      await createTemplate('before');
      await waitUntil('the leader to mirror the first template', () => mirrored('before'));
      expect(await writesOf(standby)).toBe(0);

      // bridgectl sync status, as an operator reads it: the leader's progress, the standby's role.
      const shown = await syncStatus(leader, ['--output', 'json']);
      expect(shown.code).toBe(0);
      const progress = (JSON.parse(shown.stdout) as SyncStatus).mirrors.find((m) => m.shard === SHARD)!;
      expect(progress).toMatchObject({ direction: 'source->destination', phase: 'watching', initialSyncComplete: true, pendingEvents: 0 });
      expect(progress.total).toBeGreaterThanOrEqual(1);
      expect(progress.done).toBe(progress.total);
      const table = await syncStatus(leader);
      const shards = 1 + SOURCE_PINNED_SHARDS.length; // and cluster RBAC, always
      expect(table.stdout).toContain(`leading, mirroring ${shards} of ${shards} shards`);
      expect(table.stdout).toMatch(new RegExp(`^${SHARD}\\s+source->destination\\s+watching\\s+\\[#{20}\\] ${progress.total}/${progress.total}`, 'm'));
      expect((await syncStatus(standby)).stdout).toContain('standing by');

      await close(leader); // hands the Lease back
      await createTemplate('after');
      await waitUntil('the standby to lead', () => standby.isLeader());
      await waitUntil('the new leader to mirror the second template', () => mirrored('after'));
      expect(await readyz(standby)).toBe(200);
      // The new leader's full reconcile found `before` already mirrored and did not write it again.
      expect(await writesOf(standby)).toBe(1);
      expect(await writesOf(leader)).toBe(1);
    } finally {
      for (const sync of replicas) await close(sync);
    }
  }, 120_000);

  it('reports an object the destination refuses with its message, mirrors the rest, and retries it with backoff', async () => {
    const sync = await replica();
    const refusing = uniqueName('sync-quota');
    try {
      await waitUntil('the replica to lead', () => sync.isLeader());
      // The destination refuses pod templates in one namespace: a quota of none (a real cause of refusals).
      await destination.expect('POST', '/api/v1/namespaces', [201], { metadata: { name: refusing } });
      const quota = `/api/v1/namespaces/${refusing}/resourcequotas`;
      await destination.expect('POST', quota, [201], { metadata: { name: 'no-templates' }, spec: { hard: { 'count/podtemplates': '0' } } });
      await waitUntil('the quota to be counted', async () => {
        const got = await destination.expect<{ status?: { hard?: object } }>('GET', `${quota}/no-templates`, [200]);
        return got.body.status?.hard !== undefined;
      });
      await source.expect('POST', '/api/v1/namespaces', [201], { metadata: { name: refusing } });
      await createTemplate('refused', refusing);
      await createTemplate('accepted');
      await waitUntil('the other template to be mirrored', () => mirrored('accepted'));
      await waitUntil('the refusal to show in the status', () => sync.status().mirrors[0]?.lastError?.includes('exceeded quota') === true);
      const shown = sync.status().mirrors[0]!;
      expect(shown.done).toBe(shown.total - 1);
      const table = await syncStatus(sync);
      expect(table.stdout).toMatch(/write \d+/);
      expect(table.stdout).toContain(`exceeded quota: no-templates`);

      // Once the destination accepts it, the retry writes it, without waiting for a full reconcile.
      await destination.expect('DELETE', `${quota}/no-templates`, [200]);
      await waitUntil('the refused template to be mirrored after the quota is gone', () => mirrored('refused', refusing), { timeoutMs: 60_000 });
      const healed = sync.status().mirrors[0]!;
      expect(healed.done).toBe(healed.total);
    } finally {
      await sync.close();
    }
  }, 120_000);
});
