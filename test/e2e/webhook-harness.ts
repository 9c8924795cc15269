/** Runs the webhook in-process against the lab's source API server, registered by URL for one test file. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeconfigPath } from '../../lab/lab-files.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { createLogger } from '../../lib/process/logger.js';
import { generateCa, type CertificateAndKey } from '../../lib/tls/pki.js';
import { freePort } from '../../lab/ports.js';
import { issueWebhookServingCert } from '../../certs/bridge-certs.js';
import { writePemPair } from '../../certs/cert-files.js';
import { INJECT_LABEL, INJECT_LABEL_VALUE } from '../../webhook/constants.js';
import { registerWebhook, unregisterWebhook, type RegistrationSpec } from '../../webhook/registration.js';
import { E2E_WEBHOOK_LABEL } from '../../lib/names.js';
import { loadServeConfig } from '../../webhook/serve-config.js';
import { runWebhook, type RunningWebhook } from '../../webhook/serve.js';
import { createNamespace, uniqueName } from '../helpers/lab-clients.js';

export interface TestWebhook {
  id: string;
  configName: string;
  port: number;
  opsPort: number;
  ca: CertificateAndKey;
  client: KubeRestClient;
  running: RunningWebhook | undefined;
  /** A namespace this webhook injects (inject label plus the per-test label). */
  labelledNamespace(prefix?: string): Promise<string>;
  /** A namespace with only the per-test label: the selector does not match it. */
  unlabelledNamespace(prefix?: string): Promise<string>;
  metric(name: string, labels: Record<string, string>): Promise<number>;
  stopServer(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function startTestWebhook(
  options: { env?: Record<string, string>; register?: Partial<RegistrationSpec>; selfProvisionNamespace?: string } = {},
): Promise<TestWebhook> {
  const id = uniqueName('wh');
  const dir = mkdtempSync(join(tmpdir(), 'cb-webhook-e2e-'));
  const ca = await generateCa('cluster-bridge-e2e-ca');
  const serving = writePemPair(dir, 'serving', await issueWebhookServingCert(ca, { ipAddresses: ['127.0.0.1'] }));
  const port = await freePort();
  const opsPort = await freePort();
  const configName = `cb-e2e-${id}`;
  const client = KubeRestClient.load(kubeconfigPath('source'));
  const env: Record<string, string> = {
    BRIDGE_WEBHOOK_HOST: '127.0.0.1',
    BRIDGE_WEBHOOK_PORT: String(port),
    BRIDGE_WEBHOOK_OPS_HOST: '127.0.0.1',
    BRIDGE_WEBHOOK_OPS_PORT: String(opsPort),
    BRIDGE_KUBECONFIG: kubeconfigPath('source'),
    BRIDGE_UPSTREAM: '10.11.12.13:8443',
    BRIDGE_LOCAL_APISERVER: '10.96.0.1:443',
    ...(options.selfProvisionNamespace
      ? {
          BRIDGE_WEBHOOK_SELF_PROVISION: 'true',
          BRIDGE_SYSTEM_NAMESPACE: options.selfProvisionNamespace,
          BRIDGE_WEBHOOK_CONFIG_NAME: configName,
          BRIDGE_WEBHOOK_EXTRA_SANS: '127.0.0.1',
        }
      : { BRIDGE_WEBHOOK_TLS_CERT_FILE: serving.certFile, BRIDGE_WEBHOOK_TLS_KEY_FILE: serving.keyFile }),
    ...options.env,
  };
  // Register first when self-provisioning: the provisioner patches the caBundle of an existing configuration.
  const spec: RegistrationSpec = {
    name: configName,
    clientConfig: { url: `https://127.0.0.1:${port}/mutate` },
    caBundlePem: options.selfProvisionNamespace ? undefined : ca.certPem,
    extraNamespaceLabels: { [E2E_WEBHOOK_LABEL]: id },
    timeoutSeconds: 10,
    ...options.register,
  };
  await registerWebhook(client, spec);
  const log = createLogger('webhook-e2e', { level: process.env.BRIDGE_LOG_LEVEL ?? 'warn' });
  let running: RunningWebhook | undefined = await runWebhook(loadServeConfig(env, '0.1.0'), log);

  const harness: TestWebhook = {
    id,
    configName,
    port,
    opsPort,
    ca,
    client,
    running,
    labelledNamespace: (prefix = 'wh-in') => createNamespace('source', prefix, { [INJECT_LABEL]: INJECT_LABEL_VALUE, [E2E_WEBHOOK_LABEL]: id }),
    unlabelledNamespace: (prefix = 'wh-out') => createNamespace('source', prefix, { [E2E_WEBHOOK_LABEL]: id }),
    async metric(name, labels) {
      const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
      let total = 0;
      for (const line of text.split('\n')) {
        if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
        if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.split(' ').pop());
      }
      return total;
    },
    async stopServer() {
      await running?.stop();
      running = undefined;
      harness.running = undefined;
    },
    async cleanup() {
      await unregisterWebhook(client, configName);
      await harness.stopServer();
      client.close();
    },
  };
  return harness;
}

export function podManifest(
  name: string,
  extra: { annotations?: Record<string, string>; spec?: Record<string, unknown>; labels?: Record<string, string> } = {},
): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: name, ...(extra.labels ?? {}) }, annotations: extra.annotations ?? {} },
    spec: {
      containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10', env: [{ name: 'KUBERNETES_SERVICE_HOST', value: 'overridden-by-webhook' }] }],
      ...(extra.spec ?? {}),
    },
  });
}
