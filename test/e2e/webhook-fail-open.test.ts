import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SIDECAR_NAME, STATUS_ANNOTATION } from '../../webhook/constants.js';
import { kubectlOk } from '../helpers/lab-clients.js';
import { podManifest, startTestWebhook, type TestWebhook } from './webhook-harness.js';

interface PodJson {
  metadata: { annotations?: Record<string, string> };
  spec: { initContainers?: { name: string }[]; containers: { name: string; lifecycle?: unknown }[] };
}

describe('webhook fail-open and sidecar styles', () => {
  let webhook: TestWebhook;
  beforeAll(async () => {
    webhook = await startTestWebhook({ env: { BRIDGE_SIDECAR_STYLE: 'container' } });
  });
  afterAll(async () => {
    await webhook?.cleanup();
  });

  it('container style (clusters before 1.29) passes the API server validation', async () => {
    const ns = await webhook.labelledNamespace();
    await kubectlOk('source', ['-n', ns, 'create', '-f', '-'], podManifest('old-style'));
    const pod = JSON.parse(await kubectlOk('source', ['-n', ns, 'get', 'pod', 'old-style', '-o', 'json'])) as PodJson;
    expect(pod.spec.containers.map((c) => c.name)).toEqual([SIDECAR_NAME, 'app']);
    expect(pod.spec.containers[0]!.lifecycle).toBeDefined();
  });

  it('with the webhook stopped, pods are still created (failurePolicy Ignore), without injection', async () => {
    const ns = await webhook.labelledNamespace();
    await webhook.stopServer();
    await kubectlOk('source', ['-n', ns, 'create', '-f', '-'], podManifest('while-down'));
    const pod = JSON.parse(await kubectlOk('source', ['-n', ns, 'get', 'pod', 'while-down', '-o', 'json'])) as PodJson;
    expect(pod.spec.initContainers ?? []).toHaveLength(0);
    expect(pod.spec.containers.map((c) => c.name)).toEqual(['app']);
    expect(pod.metadata.annotations?.[STATUS_ANNOTATION]).toBeUndefined();
  });
});
