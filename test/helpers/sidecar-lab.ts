/** E2E fixtures: a sidecar in front of the lab's source API server, and in-cluster-like client credentials. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireLab } from '../../lab/lab-files.js';
import { waitUntil } from '../../lib/wait-until.js';
import { labDir } from '../../lib/process/paths.js';
import { generateCa, issueCertificate } from '../../lib/tls/pki.js';
import { writeKubeconfig } from '../../lab/kubeconfig.js';
import { loadSidecarConfig } from '../../sidecar/config.js';
import { startSidecar, type Sidecar, type SidecarOptions } from '../../sidecar/server.js';
import { kubectlOk } from './lab-clients.js';
import { silentLog } from './sidecar-fixtures.js';

export interface LabSidecar {
  sidecar: Sidecar;
  /** https://127.0.0.1:<sidecar port> */
  server: string;
  /** The source API server, for the same calls made directly. */
  directServer: string;
  sourceCaPem: string;
  /** Source cluster CA + the bridge CA that signed the loopback cert, as the projected ca.crt would be. */
  caBundlePem: string;
  dir: string;
}

export const LOOPBACK_SANS = {
  dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
  ipAddresses: ['127.0.0.1'],
};

export async function startLabSidecar(
  options: {
    failMode?: 'local' | 'closed';
    upstream?: string;
    upstreamCaPem?: string;
    upstreamClient?: { certPem: string; keyPem: string };
    podNamespace?: string;
    extraEnv?: Record<string, string>;
    sidecarOptions?: SidecarOptions;
  } = {},
): Promise<LabSidecar> {
  const lab = requireLab();
  const directServer = lab.clusters.source.server;
  const sourceCaPem = readFileSync(join(labDir(), 'source', 'pki', 'ca.crt'), 'utf8');
  const bridgeCa = await generateCa('e2e-bridge-ca');
  const loopback = await issueCertificate(bridgeCa, { commonName: 'cluster-bridge-sidecar', usage: 'server', ...LOOPBACK_SANS });
  const dir = mkdtempSync(join(tmpdir(), 'sidecar-e2e-'));
  writeFileSync(join(dir, 'tls.crt'), loopback.certPem);
  writeFileSync(join(dir, 'tls.key'), loopback.keyPem);
  writeFileSync(join(dir, 'ca.crt'), options.upstreamCaPem ?? sourceCaPem);
  writeFileSync(join(dir, 'cluster-ca.crt'), sourceCaPem);
  if (options.upstreamClient) {
    writeFileSync(join(dir, 'client.crt'), options.upstreamClient.certPem);
    writeFileSync(join(dir, 'client.key'), options.upstreamClient.keyPem);
  }
  const config = loadSidecarConfig({
    BRIDGE_UPSTREAM: options.upstream ?? directServer,
    BRIDGE_LOCAL_APISERVER: directServer,
    BRIDGE_LOCAL_CA_FILE: join(dir, 'cluster-ca.crt'),
    BRIDGE_FAIL_MODE: options.failMode ?? 'local',
    BRIDGE_TLS_DIR: dir,
    BRIDGE_LISTEN_PORT: '0',
    BRIDGE_OPS_PORT: '0',
    BRIDGE_POD_NAME: 'e2e-pod',
    BRIDGE_POD_NAMESPACE: options.podNamespace ?? 'e2e',
    BRIDGE_NODE_NAME: 'lab-node-0',
    // Local routing (on by default with a local API server) only where a test asks for it.
    BRIDGE_LOCAL_ROUTING: 'off',
    ...options.extraEnv,
  });
  const sidecar = await startSidecar(config, { log: silentLog, breakerPolicy: { baseOpenMs: 50, maxOpenMs: 200 }, ...options.sidecarOptions });
  return { sidecar, server: `https://127.0.0.1:${sidecar.port}`, directServer, sourceCaPem, caBundlePem: sourceCaPem + bridgeCa.certPem, dir };
}

/** The same sidecar as a child process started the way the image starts it, for per-process measurements. */
export async function startLabSidecarProcess(): Promise<{
  child: import('node:child_process').ChildProcess;
  server: string;
  opsPort: number;
  caBundlePem: string;
}> {
  const { spawn } = await import('node:child_process');
  const { freePort } = await import('../../lab/ports.js');
  const { sidecarImageCommand } = await import('../../sidecar/image-command.js');
  const { nodeFlags, entry } = sidecarImageCommand();
  const probe = await startLabSidecar();
  await probe.sidecar.shutdown(1000); // reuse its directory of certificates; the child serves instead
  const [port, opsPort] = [await freePort(), await freePort()];
  const lab = requireLab();
  const child = spawn(process.execPath, [...nodeFlags, entry], {
    stdio: 'ignore',
    env: {
      ...process.env,
      BRIDGE_UPSTREAM: lab.clusters.source.server,
      BRIDGE_LOCAL_APISERVER: new URL(lab.clusters.source.server).host,
      BRIDGE_LOCAL_CA_FILE: join(probe.dir, 'cluster-ca.crt'),
      BRIDGE_TLS_DIR: probe.dir,
      BRIDGE_LISTEN_PORT: String(port),
      BRIDGE_OPS_PORT: String(opsPort),
      BRIDGE_LOG_LEVEL: 'warn',
      BRIDGE_LOCAL_ROUTING: 'off',
    },
  });
  await waitUntil('the sidecar to report ready', async () => (await fetch(`http://127.0.0.1:${opsPort}/readyz`)).ok, {
    timeoutMs: 30_000,
    intervalMs: 100,
    abandon: () => (child.exitCode !== null ? `it exited with code ${child.exitCode}` : undefined),
  });
  return { child, server: `https://127.0.0.1:${port}`, opsPort, caBundlePem: probe.caBundlePem };
}

/** A ServiceAccount with `edit` in the namespace and a TokenRequest token for it, like a pod's projected token. */
export async function serviceAccountToken(namespace: string, name = 'tester'): Promise<string> {
  await kubectlOk('source', ['-n', namespace, 'create', 'serviceaccount', name]);
  await kubectlOk('source', ['-n', namespace, 'create', 'rolebinding', `${name}-edit`, '--clusterrole=edit', `--serviceaccount=${namespace}:${name}`]);
  return (await kubectlOk('source', ['-n', namespace, 'create', 'token', name, '--duration=1h'])).trim();
}

/** A kubeconfig an in-cluster client would amount to: server, CA bundle, bearer token. */
export function tokenKubeconfig(dir: string, label: string, server: string, caPem: string, token: string, namespace: string): string {
  const path = join(dir, `${label}.kubeconfig`);
  writeKubeconfig(path, { clusterName: label, server, caPem, userName: 'sa', credentials: { token }, namespace });
  return path;
}
