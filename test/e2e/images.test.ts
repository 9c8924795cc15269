/**
 * The product images, built as `npm run images` builds them (buildah, the lab's Debian bases, layer and
 * base caches), and run as a node's runtime runs them (runc, lab/images/run-image.ts): the sidecar image
 * serves its ops port and carries a pod's API call to the lab's source API server; the webhook image's
 * bridgectl loads. Not skipped anywhere: a missing buildah, mmdebstrap or runc is installed from Debian
 * (as root) or fails the test.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildProductImages, PRODUCT_IMAGES, type ImageBuild } from '../../lab/images/build-images.js';
import { runImage, type RunningContainer } from '../../lab/images/run-image.js';
import { requireLab } from '../../lab/lab-files.js';
import { labComponentsKubeconfig } from '../../lab/install-bridge.js';
import { issueWebhookServingCert } from '../../certs/bridge-certs.js';
import { writePemPair } from '../../certs/cert-files.js';
import { authorityFileNames, createBridgeAuthority } from '../../certs/bridge-authority.js';
import { SIDECAR_TLS_DIR, SIDECAR_UID } from '../../lib/names.js';
import { freePort } from '../../lab/ports.js';
import { waitUntil } from '../../lib/wait-until.js';
import { defaultInjectionConfig } from '../../webhook/injection-config.js';
import { createNamespace } from '../helpers/lab-clients.js';
import { serviceAccountToken, startLabSidecar, startLabSidecarProcess } from '../helpers/sidecar-lab.js';
import { fmt, memory, type MemorySample } from '../../bench/stats.js';

const workDir = join(tmpdir(), `cluster-bridge-images-e2e-${process.pid}`);
let build: ImageBuild;
const running: RunningContainer[] = [];

/** Every `image:` the shipped manifests name, plus the sidecar image the webhook injects by default. */
function referencedImages(): string[] {
  const manifests = join(process.cwd(), 'manifests');
  const names = new Set<string>([defaultInjectionConfig().sidecarImage]);
  for (const folder of readdirSync(manifests)) {
    for (const file of readdirSync(join(manifests, folder)).filter((f) => f.endsWith('.yaml'))) {
      for (const m of readFileSync(join(manifests, folder, file), 'utf8').matchAll(/^\s*image:\s*(\S+)\s*$/gm)) names.add(m[1]!);
    }
  }
  return [...names];
}

function getJson(url: string, ca: string, token: string): Promise<{ status: number; body: { kind?: string } }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers: { authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as { kind?: string } }));
    });
    req.on('error', reject);
    req.end();
  });
}

function statusField(pid: number, field: string): string {
  return new RegExp(`^${field}:\\s+(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '';
}

/** Tracks the container for clean-up, waits for /readyz on its ops port (or its exit), then expects /healthz 200. */
async function readyAndHealthy(container: RunningContainer, what: string, opsPort: number): Promise<void> {
  running.push(container);
  await waitUntil(`the ${what} in its container to report ready`, async () => (await fetch(`http://127.0.0.1:${opsPort}/readyz`)).ok, {
    timeoutMs: 60_000,
    intervalMs: 200,
    abandon: () => (existsSync(`/proc/${container.pid}`) ? undefined : `it exited: ${readFileSync(container.output, 'utf8').slice(-500)}`),
  });
  expect((await fetch(`http://127.0.0.1:${opsPort}/healthz`)).status).toBe(200);
}

beforeAll(async () => {
  mkdirSync(workDir, { recursive: true });
  build = await buildProductImages();
}, 900_000);

afterAll(async () => {
  for (const container of running) await container.stop();
  rmSync(workDir, { recursive: true, force: true });
});

describe('product images', () => {
  it('builds every image the manifests and the webhook reference, exported for ctr import', () => {
    const built = Object.values(build.images);
    for (const reference of referencedImages()) {
      const image = built.find((b) => b.reference === reference);
      expect({ reference, built: image !== undefined }).toEqual({ reference, built: true });
      const manifest = JSON.parse(execFileSync('tar', ['-xOf', image!.tarball, 'manifest.json'], { encoding: 'utf8' })) as Array<{ RepoTags: string[] }>;
      expect(manifest[0]!.RepoTags.some((t) => t.endsWith(`/${reference}`))).toBe(true);
    }
    expect(PRODUCT_IMAGES.map((p) => existsSync(join(process.cwd(), p.dockerfile)))).toEqual(PRODUCT_IMAGES.map(() => true));
  });

  it('runs the sidecar image under runc: non-root, ready on its ops port, and a pod call reaches the source API server', async () => {
    const lab = requireLab();
    // The certificates the in-process lab sidecar uses, mounted where the injected Secret volume goes.
    const probe = await startLabSidecar();
    await probe.sidecar.shutdown(1000);
    chmodSync(probe.dir, 0o755);
    for (const file of readdirSync(probe.dir)) chmodSync(join(probe.dir, file), 0o644);
    const [port, opsPort] = [await freePort(), await freePort()];
    const sidecar = await runImage({
      image: build.images['cluster-bridge/sidecar'].reference,
      id: `e2e-sidecar-${process.pid}`,
      workDir,
      mounts: [{ source: probe.dir, destination: SIDECAR_TLS_DIR }],
      env: {
        BRIDGE_UPSTREAM: lab.clusters.source.server,
        BRIDGE_LOCAL_APISERVER: new URL(lab.clusters.source.server).host,
        BRIDGE_LOCAL_CA_FILE: `${SIDECAR_TLS_DIR}/cluster-ca.crt`,
        BRIDGE_LISTEN_PORT: String(port),
        BRIDGE_OPS_PORT: String(opsPort),
        BRIDGE_LOCAL_ROUTING: 'off',
      },
    });
    await readyAndHealthy(sidecar, 'sidecar', opsPort);
    expect(statusField(sidecar.pid, 'Uid').split(/\s+/)[0]).toBe(String(SIDECAR_UID));

    const namespace = await createNamespace('source', 'images');
    const token = await serviceAccountToken(namespace);
    const answer = await getJson(`https://127.0.0.1:${port}/api/v1/namespaces/${namespace}/configmaps`, probe.caBundlePem, token);
    expect({ status: answer.status, kind: answer.body.kind }).toEqual({ status: 200, kind: 'ConfigMapList' });

    // Memory beside the same sidecar as a local process (the benchmark's way), each idle 5 s after one call.
    const local = await startLabSidecarProcess();
    try {
      const viaLocal = await getJson(`${local.server}/api/v1/namespaces/${namespace}/configmaps`, local.caBundlePem, token);
      expect(viaLocal.status).toBe(200);
      await sleep(5000);
      const [inImage, asProcess] = [memory(sidecar.pid), memory(local.child.pid!)];
      const mb = (m: MemorySample) => `RSS ${fmt(m.rssMb, 1)} MB, private anon ${fmt(m.anonMb, 1)} MB`;
      console.log(`sidecar idle after one call: in its image ${mb(inImage)}; local process ${mb(asProcess)}`);
    } finally {
      local.child.kill('SIGTERM');
    }
  });

  it('runs the webhook image under runc: `webhook serve` as uid 65532 from a read-only root, ready against the source API server', async () => {
    // The files the lab's local webhook gets (lab/install-webhook.ts), readable by the image's user, mounted as Secrets would be.
    const dir = mkdtempSync(join(workDir, 'webhook-files-'));
    const issuers = await createBridgeAuthority(dir, 'images-e2e-bridge-ca');
    writePemPair(dir, 'serving', await issueWebhookServingCert(issuers.componentServing, { ipAddresses: ['127.0.0.1'], validityDays: 1 }));
    rmSync(join(dir, `${authorityFileNames().root}.key`)); // the webhook never holds the root's key (docs/adr/0021)
    copyFileSync(await labComponentsKubeconfig('source'), join(dir, 'kubeconfig'));
    chmodSync(dir, 0o755);
    for (const file of readdirSync(dir)) chmodSync(join(dir, file), 0o644);
    const [port, opsPort] = [await freePort(), await freePort()];
    const f = '/etc/cluster-bridge';
    const webhook = await runImage({
      image: build.images['cluster-bridge/webhook'].reference,
      id: `e2e-webhook-${process.pid}`,
      workDir,
      mounts: [{ source: dir, destination: f }],
      cmd: ['webhook', 'serve', '--host', '127.0.0.1', '--port', String(port), '--ops-host', '127.0.0.1', '--ops-port', String(opsPort)],
      env: {
        BRIDGE_KUBECONFIG: `${f}/kubeconfig`,
        BRIDGE_WEBHOOK_TLS_CERT_FILE: `${f}/serving.crt`,
        BRIDGE_WEBHOOK_TLS_KEY_FILE: `${f}/serving.key`,
        BRIDGE_SERVING_CA_CERT_FILE: `${f}/${authorityFileNames().serving}.crt`,
        BRIDGE_SERVING_CA_KEY_FILE: `${f}/${authorityFileNames().serving}.key`,
        BRIDGE_CLIENT_CA_CERT_FILE: `${f}/${authorityFileNames().client}.crt`,
        BRIDGE_CLIENT_CA_KEY_FILE: `${f}/${authorityFileNames().client}.key`,
        BRIDGE_UPSTREAM: '127.0.0.1:9',
        BRIDGE_LOCAL_APISERVER: new URL(requireLab().clusters.source.server).host,
        BRIDGE_WEBHOOK_RECONCILE: 'false',
      },
    });
    await readyAndHealthy(webhook, 'webhook', opsPort);
    expect(statusField(webhook.pid, 'Uid').split(/\s+/)[0]).toBe('65532');
  });
});
