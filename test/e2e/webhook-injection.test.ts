import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CA_BUNDLE_CONFIGMAP, SIDECAR_NAME, STATUS_ANNOTATION } from '../../webhook/constants.js';
import { webhookConfiguration } from '../../webhook/registration.js';
import { kubectl, kubectlOk, uniqueName } from '../helpers/lab-clients.js';
import { waitUntil } from '../../lib/wait-until.js';
import { podManifest, startTestWebhook, type TestWebhook } from './webhook-harness.js';

interface PodJson {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: {
    containers: { name: string; env?: { name: string; value?: string }[] }[];
    initContainers?: { name: string; restartPolicy?: string; env?: { name: string; value?: string }[] }[];
    volumes?: { name: string; projected?: { sources?: { configMap?: { name: string } }[] } }[];
    hostAliases?: { ip: string; hostnames: string[] }[];
  };
  status?: { phase?: string };
}

async function createPod(ns: string, manifest: string): Promise<PodJson> {
  await kubectlOk('source', ['-n', ns, 'create', '-f', '-'], manifest);
  const name = (JSON.parse(manifest) as PodJson).metadata.name;
  return JSON.parse(await kubectlOk('source', ['-n', ns, 'get', 'pod', name, '-o', 'json'])) as PodJson;
}

const envOf = (c: { env?: { name: string; value?: string }[] } | undefined, name: string) => c?.env?.find((e) => e.name === name)?.value;

describe('webhook e2e against the lab source API server', () => {
  let webhook: TestWebhook;
  beforeAll(async () => {
    webhook = await startTestWebhook();
  });
  afterAll(async () => {
    await webhook?.cleanup();
  });

  it('injects a native sidecar into a pod of a labelled namespace, and the pod is created and runs', async () => {
    const ns = await webhook.labelledNamespace();
    const pod = await createPod(ns, podManifest('web'));
    const proxy = pod.spec.initContainers?.[0];
    expect(proxy?.name).toBe(SIDECAR_NAME);
    expect(proxy?.restartPolicy).toBe('Always');
    expect(envOf(proxy, 'BRIDGE_UPSTREAM')).toBe('https://10.11.12.13:8443');
    expect(envOf(proxy, 'BRIDGE_LOCAL_APISERVER')).toBe('https://10.96.0.1:443');
    const app = pod.spec.containers.find((c) => c.name === 'app');
    expect(envOf(app, 'KUBERNETES_SERVICE_HOST')).toBe('127.0.0.1');
    expect(envOf(app, 'KUBERNETES_SERVICE_PORT')).toBe('16443');
    expect(app?.env?.filter((e) => e.name === 'KUBERNETES_SERVICE_HOST')).toHaveLength(1);
    const projected = pod.spec.volumes?.find((v) => v.name.startsWith('kube-api-access-'));
    expect(projected?.projected?.sources?.map((s) => s.configMap?.name).filter(Boolean)).toEqual([CA_BUNDLE_CONFIGMAP]);
    const status = JSON.parse(pod.metadata.annotations?.[STATUS_ANNOTATION] ?? '{}') as { mode?: string; initContainers?: string[] };
    expect(status).toMatchObject({ mode: 'sidecar', initContainers: [SIDECAR_NAME] });
    const phase = await waitUntil('pod Running', async () => {
      const p = await kubectlOk('source', ['-n', ns, 'get', 'pod', 'web', '-o', 'jsonpath={.status.phase}']);
      return p === 'Running' ? p : undefined;
    });
    expect(phase).toBe('Running');
    expect(await webhook.metric('cluster_bridge_webhook_admissions_total', { reason: 'injected', dry_run: 'false' })).toBeGreaterThanOrEqual(1);
  });

  // Issue 21 (verified on the lab before the fix): a pod whose author wrote the injection record listing
  // its own container `agent` was admitted without `agent`.
  it("removes none of a pod's own containers, volumes or variables that a forged injection record lists", async () => {
    const ns = await webhook.labelledNamespace();
    const forged = JSON.stringify({ version: 'x', mode: 'sidecar', containers: ['agent'], initContainers: [], volumes: ['data'], env: ['DATABASE_URL'] });
    const pod = await createPod(
      ns,
      podManifest('forged', {
        annotations: { [STATUS_ANNOTATION]: forged },
        spec: {
          containers: [
            { name: 'app', image: 'registry.k8s.io/pause:3.10' },
            {
              name: 'agent',
              image: 'registry.k8s.io/pause:3.10',
              env: [{ name: 'DATABASE_URL', value: 'db' }],
              volumeMounts: [{ name: 'data', mountPath: '/data' }],
            },
          ],
          volumes: [{ name: 'data', emptyDir: {} }],
        },
      }),
    );
    expect(pod.spec.containers.map((c) => c.name)).toEqual(['app', 'agent']);
    expect(envOf(pod.spec.containers[1], 'DATABASE_URL')).toBe('db');
    expect(pod.spec.volumes?.map((v) => v.name)).toContain('data');
    expect(pod.spec.initContainers?.[0]?.name).toBe(SIDECAR_NAME);
    expect(JSON.parse(pod.metadata.annotations?.[STATUS_ANNOTATION] ?? '{}')).toMatchObject({ containers: [], initContainers: [SIDECAR_NAME] });
  });

  it('leaves pods in a namespace without the injection label untouched', async () => {
    const ns = await webhook.unlabelledNamespace();
    const pod = await createPod(ns, podManifest('plain'));
    expect(pod.spec.initContainers ?? []).toHaveLength(0);
    expect(pod.metadata.annotations?.[STATUS_ANNOTATION]).toBeUndefined();
    expect(envOf(pod.spec.containers[0], 'KUBERNETES_SERVICE_HOST')).toBe('overridden-by-webhook');
  });

  it('honours the opt-out annotation', async () => {
    const ns = await webhook.labelledNamespace();
    const before = await webhook.metric('cluster_bridge_webhook_admissions_total', { reason: 'opted-out' });
    const pod = await createPod(ns, podManifest('optout', { annotations: { 'cluster-bridge.io/inject': 'false' } }));
    expect(pod.spec.initContainers ?? []).toHaveLength(0);
    expect(pod.metadata.annotations?.[STATUS_ANNOTATION]).toBeUndefined();
    expect(await webhook.metric('cluster_bridge_webhook_admissions_total', { reason: 'opted-out' })).toBe(before + 1);
  });

  it('dns mode points the pod at the aggregator by env and hostAliases, without a sidecar', async () => {
    const ns = await webhook.labelledNamespace();
    const pod = await createPod(ns, podManifest('dns', { annotations: { 'cluster-bridge.io/mode': 'dns' } }));
    expect(pod.spec.initContainers ?? []).toHaveLength(0);
    expect(pod.spec.containers.map((c) => c.name)).toEqual(['app']);
    expect(envOf(pod.spec.containers[0], 'KUBERNETES_SERVICE_HOST')).toBe('kubernetes.default.svc');
    expect(envOf(pod.spec.containers[0], 'KUBERNETES_SERVICE_PORT')).toBe('8443');
    expect(pod.spec.hostAliases).toEqual([
      { ip: '10.11.12.13', hostnames: ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'] },
    ]);
    expect(JSON.parse(pod.metadata.annotations?.[STATUS_ANNOTATION] ?? '{}')).toMatchObject({ mode: 'dns' });
  });

  it('skips hostNetwork pods and says why in an Event on the owning ReplicaSet', async () => {
    const ns = await webhook.labelledNamespace();
    const rs = uniqueName('hostnet');
    await kubectlOk(
      'source',
      ['-n', ns, 'create', '-f', '-'],
      JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: { name: rs },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: rs } },
          template: { metadata: { labels: { app: rs } }, spec: { hostNetwork: true, containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] } },
        },
      }),
    );
    const podJson = await waitUntil('ReplicaSet pod', async () => {
      const out = JSON.parse(await kubectlOk('source', ['-n', ns, 'get', 'pods', '-l', `app=${rs}`, '-o', 'json'])) as { items: PodJson[] };
      return out.items[0];
    });
    expect(podJson.spec.initContainers ?? []).toHaveLength(0);
    expect(podJson.metadata.annotations?.[STATUS_ANNOTATION]).toBeUndefined();
    const event = await waitUntil('BridgeInjectionSkipped Event', async () => {
      const out = await kubectlOk('source', [
        '-n',
        ns,
        'get',
        'events',
        '--field-selector',
        `involvedObject.name=${rs},reason=BridgeInjectionSkipped`,
        '-o',
        'jsonpath={.items[*].message}',
      ]);
      return out.includes('host-network') ? out : undefined;
    });
    expect(event).toContain('host network');
  });

  it('kubectl create --dry-run=server shows the injection and creates nothing', async () => {
    const ns = await webhook.labelledNamespace();
    const before = await webhook.metric('cluster_bridge_webhook_admissions_total', { reason: 'injected', dry_run: 'true' });
    const out = JSON.parse(await kubectlOk('source', ['-n', ns, 'create', '--dry-run=server', '-o', 'json', '-f', '-'], podManifest('dry'))) as PodJson;
    expect(out.spec.initContainers?.[0]?.name).toBe(SIDECAR_NAME);
    expect((await kubectl('source', ['-n', ns, 'get', 'pod', 'dry'])).code).not.toBe(0);
    expect(await webhook.metric('cluster_bridge_webhook_admissions_total', { reason: 'injected', dry_run: 'true' })).toBe(before + 1);
  });

  // On a real API server the ServiceAccount plugin runs again after the webhook and mounts the token into
  // every container, the sidecar included; the webhook's re-invocation takes that mount away again (the
  // proxy needs no token). So the admission is a strip-and-reinject, and the stored pod comes out identical.
  it('creating a pod from an injected pod yields the same pod (re-injection converges)', async () => {
    const ns = await webhook.labelledNamespace();
    const first = await createPod(ns, podManifest('orig'));
    const copy = structuredClone(first) as PodJson & { metadata: Record<string, unknown>; spec: Record<string, unknown>; status?: unknown };
    copy.metadata = { name: 'copy', annotations: first.metadata.annotations };
    delete copy.status;
    delete copy.spec.nodeName;
    const before = await webhook.metric('cluster_bridge_webhook_admissions_total', { reason: 'reinject' });
    const second = await createPod(ns, JSON.stringify(copy));
    expect(second.spec.initContainers).toEqual(first.spec.initContainers);
    expect(second.spec.containers).toEqual(first.spec.containers);
    expect(second.metadata.annotations?.[STATUS_ANNOTATION]).toBe(first.metadata.annotations?.[STATUS_ANNOTATION]);
    expect(await webhook.metric('cluster_bridge_webhook_admissions_total', { reason: 'reinject' })).toBeGreaterThanOrEqual(before + 1);
    const proxy = (second.spec.initContainers as { name: string; volumeMounts?: { name: string }[] }[] | undefined)?.[0];
    expect(proxy?.volumeMounts?.map((m) => m.name)).toEqual(['cluster-bridge-tls']);
    expect(second.spec.initContainers?.filter((c) => c.name === SIDECAR_NAME)).toHaveLength(1);
  });
});

describe('webhook e2e: system namespaces', () => {
  it('never touches kube-system, even when registered so that the API server sends its pods', async () => {
    const webhook = await startTestWebhook({ register: { extraNamespaceLabels: {} } });
    try {
      // A deliberately wide registration for kube-system only: the webhook's own decision must refuse.
      const spec = {
        name: webhook.configName,
        clientConfig: { url: `https://127.0.0.1:${webhook.port}/mutate` },
        caBundlePem: webhook.ca.certPem,
        timeoutSeconds: 10,
      };
      const body = webhookConfiguration(spec) as { metadata: object; webhooks: { namespaceSelector: unknown }[] };
      body.webhooks[0]!.namespaceSelector = { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } };
      const existing = await webhook.client.expect<{ metadata: { resourceVersion: string } }>(
        'GET',
        `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${webhook.configName}`,
        [200],
      );
      await webhook.client.expect('PUT', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${webhook.configName}`, [200], {
        ...body,
        metadata: { ...body.metadata, resourceVersion: existing.body.metadata.resourceVersion },
      });
      const name = uniqueName('cb-sys');
      await waitUntil('the system-namespace decision', async () => {
        const out = JSON.parse(
          await kubectlOk('source', ['-n', 'kube-system', 'create', '--dry-run=server', '-o', 'json', '-f', '-'], podManifest(name)),
        ) as PodJson;
        expect(out.spec.initContainers ?? []).toHaveLength(0);
        expect(out.metadata.annotations?.[STATUS_ANNOTATION]).toBeUndefined();
        return (await webhook.metric('cluster_bridge_webhook_admissions_total', { reason: 'system-namespace' })) >= 1 ? true : undefined;
      });
    } finally {
      await webhook.cleanup();
    }
  });
});
