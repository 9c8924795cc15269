/**
 * Certificate rotation under load: the webhook self-provisions a short-lived serving certificate in a
 * Secret, renews it several times while the API server keeps sending it pods, and every pod is injected
 * (failurePolicy Ignore would hide a failed call, so a missing injection is the failure signal).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { STATUS_ANNOTATION } from '../../webhook/constants.js';
import { createNamespace, kubectlOk } from '../helpers/lab-clients.js';
import { podManifest, startTestWebhook, type TestWebhook } from './webhook-harness.js';

function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '');
      socket.end();
    });
    socket.on('error', reject);
  });
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
    const pods = JSON.parse(await kubectlOk('source', ['-n', ns, 'get', 'pods', '-o', 'json'])) as {
      items: { metadata: { name: string; annotations?: Record<string, string> } }[];
    };
    const notInjected = pods.items.filter((p) => !p.metadata.annotations?.[STATUS_ANNOTATION]).map((p) => p.metadata.name);
    expect(pods.items).toHaveLength(created.length);
    expect(notInjected).toEqual([]);
    // At least two renewals happened while pods were being admitted.
    expect(fingerprints.size).toBeGreaterThanOrEqual(3);
    expect(await webhook.metric('cluster_bridge_webhook_cert_rotations_total', { kind: 'leaf' })).toBeGreaterThanOrEqual(2);
    // The previous leaf was not expired by the time a new one was served (renewal happens before expiry).
    expect(await webhook.metric('cluster_bridge_webhook_serving_cert_expiry_timestamp_seconds', {})).toBeGreaterThan(Date.now() / 1000);
  }, 120_000);
});
