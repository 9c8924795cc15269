/**
 * Certificate rotation under load: the webhook self-provisions a short-lived serving certificate in a
 * Secret, renews it several times while the API server keeps sending it pods, and every pod is injected
 * (failurePolicy Ignore would hide a failed call, so a missing injection is the failure signal).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { issueWebhookServingCert } from '../../certs/bridge-certs.js';
import { decodeSecretData, secretManifest } from '../../certs/cert-files.js';
import { WEBHOOK_TLS_SECRET } from '../../lib/names.js';
import { generateCa, splitPemBundle } from '../../lib/tls/pki.js';
import { STATUS_ANNOTATION } from '../../webhook/constants.js';
import { createNamespace, kubectlOk } from '../helpers/lab-clients.js';
import { podManifest, startTestWebhook, type TestWebhook } from './webhook-harness.js';

function servedCertificate(port: number): Promise<X509Certificate | undefined> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerX509Certificate());
      socket.end();
    });
    socket.on('error', reject);
  });
}

async function servedFingerprint(port: number): Promise<string> {
  return (await servedCertificate(port))?.fingerprint256 ?? '';
}

async function podsNotInjected(namespace: string, created: string[]): Promise<string[]> {
  const pods = JSON.parse(await kubectlOk('source', ['-n', namespace, 'get', 'pods', '-o', 'json'])) as {
    items: { metadata: { name: string; annotations?: Record<string, string> } }[];
  };
  expect(pods.items.map((p) => p.metadata.name).sort()).toEqual([...created].sort());
  return pods.items.filter((p) => !p.metadata.annotations?.[STATUS_ANNOTATION]).map((p) => p.metadata.name);
}

describe('webhook certificate rotation', () => {
  let webhook: TestWebhook;
  beforeAll(async () => {
    const systemNamespace = await createNamespace('source', 'wh-sys');
    webhook = await startTestWebhook({
      selfProvisionNamespace: systemNamespace,
      env: { BRIDGE_WEBHOOK_CERT_VALIDITY_SECONDS: '24', BRIDGE_WEBHOOK_CERT_RENEW_BEFORE_SECONDS: '14', BRIDGE_WEBHOOK_CERT_CHECK_SECONDS: '1' },
    });
  });
  afterAll(async () => {
    await webhook?.cleanup();
  });

  it('renews an expiring serving certificate and the API server keeps calling the webhook, with no failed admission', async () => {
    const ns = await webhook.labelledNamespace('wh-rot');
    const fingerprints = new Set<string>([await servedFingerprint(webhook.port)]);
    const created: string[] = [];
    const deadline = Date.now() + 45_000;
    for (let i = 0; Date.now() < deadline; i++) {
      const name = `rot-${i}`;
      await kubectlOk('source', ['-n', ns, 'create', '-f', '-'], podManifest(name));
      created.push(name);
      fingerprints.add(await servedFingerprint(webhook.port));
      await sleep(500);
    }
    expect(await podsNotInjected(ns, created)).toEqual([]);
    // At least two renewals happened while pods were being admitted.
    expect(fingerprints.size).toBeGreaterThanOrEqual(3);
    expect(await webhook.metric('cluster_bridge_webhook_cert_rotations_total', { kind: 'leaf' })).toBeGreaterThanOrEqual(2);
    // The previous leaf was not expired by the time a new one was served (renewal happens before expiry).
    expect(await webhook.metric('cluster_bridge_webhook_serving_cert_expiry_timestamp_seconds', {})).toBeGreaterThan(Date.now() / 1000);
  }, 120_000);
});

/**
 * CA rotation with the real kube-apiserver as the webhook's client: the Secret is made to hold a CA near
 * the end of its life (as an install from long ago would), the webhook serves a leaf from it, then
 * rotates: the API server is given the new CA in the caBundle before any leaf it signed is served, and
 * every pod created meanwhile is injected.
 */
describe('webhook CA rotation', () => {
  let webhook: TestWebhook;
  let systemNamespace: string;
  beforeAll(async () => {
    systemNamespace = await createNamespace('source', 'wh-ca');
    webhook = await startTestWebhook({
      selfProvisionNamespace: systemNamespace,
      env: { BRIDGE_WEBHOOK_CERT_VALIDITY_SECONDS: '20', BRIDGE_WEBHOOK_CERT_CHECK_SECONDS: '1' },
    });
  });
  afterAll(async () => {
    await webhook?.cleanup();
  });

  it('rotates an expiring CA with the new one trusted first, and the API server keeps calling the webhook', async () => {
    const ns = await webhook.labelledNamespace('wh-carot');
    const secretPath = `/api/v1/namespaces/${systemNamespace}/secrets/${WEBHOOK_TLS_SECRET}`;
    const original = decodeSecretData((await webhook.client.expect<{ data: Record<string, string> }>('GET', secretPath, [200])).body);
    const now = Date.now();
    // A third of its lifetime is left about 20 s from now: then it is rotated (before that, its leaf is served).
    const expiring = await generateCa('e2e-expiring-ca', { notBefore: new Date(now - 120_000), notAfter: new Date(now + 90_000) });
    const leaf = await issueWebhookServingCert(expiring, { notBefore: new Date(now - 1_000), notAfter: new Date(now + 30_000) });
    const bundle = expiring.certPem + original['ca.crt']!;
    await webhook.client.expect(
      'PUT',
      secretPath,
      [200],
      secretManifest(WEBHOOK_TLS_SECRET, systemNamespace, {
        'tls.crt': leaf.certPem,
        'tls.key': leaf.keyPem,
        'ca.crt': expiring.certPem,
        'ca.key': expiring.keyPem,
        'ca-bundle.crt': bundle,
      }),
    );
    const knownCas = { original: new X509Certificate(original['ca.crt']!), expiring: new X509Certificate(expiring.certPem) };
    const signers: string[] = [];
    const created: string[] = [];
    const deadline = Date.now() + 60_000;
    let podsAfterRotation = 0;
    for (let i = 0; Date.now() < deadline && podsAfterRotation < 5; i++) {
      const served = await servedCertificate(webhook.port);
      const signer = Object.entries(knownCas).find(([, ca]) => served?.verify(ca.publicKey))?.[0] ?? 'new';
      if (signers.at(-1) !== signer) signers.push(signer);
      if (signer === 'new') podsAfterRotation++;
      const name = `carot-${i}`;
      await kubectlOk('source', ['-n', ns, 'create', '-f', '-'], podManifest(name));
      created.push(name);
      await sleep(300);
    }
    expect(signers).toEqual(['original', 'expiring', 'new']);
    expect(await podsNotInjected(ns, created)).toEqual([]);
    expect(await webhook.metric('cluster_bridge_webhook_cert_rotations_total', { kind: 'ca' })).toBeGreaterThanOrEqual(1);
    // What the API server trusts now: the new CA first, the expiring one kept until it expires.
    const config = await webhook.client.expect<{ webhooks: { clientConfig: { caBundle: string } }[] }>(
      'GET',
      `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${webhook.configName}`,
      [200],
    );
    const trusted = splitPemBundle(Buffer.from(config.body.webhooks[0]!.clientConfig.caBundle, 'base64').toString()).map(
      (pem) => new X509Certificate(pem).fingerprint256,
    );
    const rotated = decodeSecretData((await webhook.client.expect<{ data: Record<string, string> }>('GET', secretPath, [200])).body);
    expect(trusted[0]).toBe(new X509Certificate(rotated['ca.crt']!).fingerprint256);
    expect(trusted).toContain(knownCas.expiring.fingerprint256);
  }, 120_000);
});
