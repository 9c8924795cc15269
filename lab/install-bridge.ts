/**
 * `bridgectl lab install`, the bridge itself: the synchronizer (mirrors the lab's two clusters,
 * serves the catch-up API) and the aggregator (the API the lab's sidecar forwards to), as local
 * processes with certificates from the lab's bridge CA. They use the lab's admin kubeconfigs; the
 * manifests carry the least-privilege RBAC a real installation gets.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { issueCertificate } from '../lib/pki.js';
import { freePort } from '../lib/ports.js';
import { waitForOpsReady } from './process.js';
import type { LabInstallContext } from './install-context.js';
import { kubeconfigPath } from './lab.js';

async function writeTlsDir(ctx: LabInstallContext, component: string, withClient: boolean): Promise<string> {
  const dir = join(ctx.componentDir(component), 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const serving = await issueCertificate(ctx.bridgeCa, { commonName: `cluster-bridge-${component}`, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server' });
  writeFileSync(join(dir, 'tls.crt'), serving.certPem);
  writeFileSync(join(dir, 'tls.key'), serving.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'ca.crt'), ctx.bridgeCa.certPem);
  if (withClient) {
    const client = await issueCertificate(ctx.bridgeCa, { commonName: `cluster-bridge-${component}`, organizations: ['cluster-bridge:components'], usage: 'client' });
    writeFileSync(join(dir, 'client.crt'), client.certPem);
    writeFileSync(join(dir, 'client.key'), client.keyPem, { mode: 0o600 });
  }
  return dir;
}

const clusterEnv = () => ({ BRIDGE_SOURCE_KUBECONFIG: kubeconfigPath('source'), BRIDGE_DESTINATION_KUBECONFIG: kubeconfigPath('destination') });

export async function installSynchronizer(ctx: LabInstallContext): Promise<void> {
  const tlsDir = await writeTlsDir(ctx, 'synchronizer', false);
  const [port, opsPort] = [await freePort(), await freePort()];
  const record = ctx.startComponent('synchronizer', ['sync', 'serve'], { ...clusterEnv(), BRIDGE_TLS_DIR: tlsDir, BRIDGE_LISTEN_HOST: '127.0.0.1', BRIDGE_LISTEN_PORT: String(port), BRIDGE_OPS_HOST: '127.0.0.1', BRIDGE_OPS_PORT: String(opsPort) }, [port, opsPort]);
  await waitForOpsReady(record, opsPort);
  ctx.published.synchronizer = `https://127.0.0.1:${port}`;
  ctx.progress(`synchronizer: catch-up API ${ctx.published.synchronizer} (ops :${opsPort})`);
}

export async function installAggregator(ctx: LabInstallContext): Promise<void> {
  const tlsDir = await writeTlsDir(ctx, 'aggregator', true);
  const [port, opsPort] = [await freePort(), await freePort()];
  const env: Record<string, string> = { ...clusterEnv(), BRIDGE_TLS_DIR: tlsDir, BRIDGE_LISTEN_HOST: '127.0.0.1', BRIDGE_LISTEN_PORT: String(port), BRIDGE_OPS_HOST: '127.0.0.1', BRIDGE_OPS_PORT: String(opsPort) };
  if (ctx.published.synchronizer) env.BRIDGE_SYNCHRONIZER_URL = ctx.published.synchronizer;
  const record = ctx.startComponent('aggregator', ['aggregator', 'serve'], env, [port, opsPort]);
  await waitForOpsReady(record, opsPort);
  ctx.published.aggregator = `https://127.0.0.1:${port}`;
  ctx.published.aggregatorOps = `http://127.0.0.1:${opsPort}`;
  ctx.progress(`aggregator: ${ctx.published.aggregator} (ops :${opsPort})`);
}
