/**
 * Real clients configured as in-cluster clients talk to the lab's source API server through the
 * sidecar; the same calls made directly must give the same results (normalized for uid,
 * resourceVersion, timestamps and namespace, which differ by construction).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { PYTHON, createNamespace, kubectl, pythonScript, run } from '../helpers/lab-clients.js';
import { serviceAccountToken, startLabSidecar, tokenKubeconfig, type LabSidecar } from '../helpers/sidecar-lab.js';

interface Endpoint {
  label: 'direct' | 'sidecar';
  server: string;
  caPem: string;
  namespace: string;
  token: string;
  kubeconfig: string;
}

function normalize(text: string, namespace: string): unknown {
  const scrub = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(scrub);
    if (value && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, v] of Object.entries(value)) {
        if (['uid', 'resourceVersion', 'creationTimestamp', 'managedFields', 'time', 'namespace', 'selfLink'].includes(key)) continue;
        out[key] = scrub(v);
      }
      return out;
    }
    return typeof value === 'string' ? value.replaceAll(namespace, '<ns>') : value;
  };
  try {
    return scrub(JSON.parse(text));
  } catch {
    return text.replaceAll(namespace, '<ns>').trim();
  }
}

describe('clients through the sidecar behave as direct', () => {
  let lab: LabSidecar;
  const endpoints: Endpoint[] = [];

  beforeAll(async () => {
    lab = await startLabSidecar();
    for (const label of ['direct', 'sidecar'] as const) {
      const namespace = await createNamespace('source', `sc-${label}`);
      const token = await serviceAccountToken(namespace);
      const server = label === 'direct' ? lab.directServer : lab.server;
      const caPem = label === 'direct' ? lab.sourceCaPem : lab.caBundlePem;
      endpoints.push({
        label,
        server,
        caPem,
        namespace,
        token,
        kubeconfig: tokenKubeconfig(lab.dir, `${label}-${namespace}`, server, caPem, token, namespace),
      });
    }
  });

  afterAll(async () => {
    await lab.sidecar.shutdown(2000);
  });

  async function kubectlSequence(e: Endpoint): Promise<unknown[]> {
    const results: unknown[] = [];
    const step = async (args: string[], input?: string) => {
      const r = await kubectl(e.kubeconfig, args, input);
      results.push({ code: r.code, out: normalize(r.stdout, e.namespace), err: normalize(r.stderr, e.namespace) });
    };
    const cm = (data: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: k-a\n  labels: {set: k}\ndata: {${data}}\n`;
    await step(['create', '-f', '-', '-o', 'json'], cm('k: v'));
    await step(['get', 'configmap', 'k-a', '-o', 'json']);
    await step(['replace', '-f', '-', '-o', 'json'], cm('k: v2'));
    await step(['apply', '--server-side', '--field-manager=e2e', '-f', '-', '-o', 'json'], cm('k: v2, ssa: "1"').replace('k-a', 'k-b'));
    await step(['patch', 'configmap', 'k-a', '--type=json', '-p', '[{"op":"add","path":"/data/j","value":"1"}]', '-o', 'json']);
    await step(['patch', 'configmap', 'k-a', '--type=merge', '-p', '{"data":{"m":"1"}}', '-o', 'json']);
    await step(['patch', 'configmap', 'k-a', '--type=strategic', '-p', '{"metadata":{"labels":{"s":"1"}}}', '-o', 'json']);
    await step(['get', 'configmaps', '-l', 'set=k', '-o', 'json']);
    await step(['get', 'configmap', 'k-a', 'k-b', '-o', 'name']);
    await step(['delete', 'configmap', 'k-a']);
    await step(['get', 'configmap', 'k-a']);
    await step(['delete', 'configmaps', '-l', 'set=k']);
    await step(['get', 'configmaps', '-l', 'set=k', '-o', 'name']);
    await step(['auth', 'can-i', 'create', 'configmaps']);
    await step(['get', 'secrets', '-n', 'kube-system']);
    return results;
  }

  it('kubectl: get, list, create, update, server-side apply, patches and deletes match the direct calls', async () => {
    const [direct, sidecar] = [await kubectlSequence(endpoints[0]!), await kubectlSequence(endpoints[1]!)];
    expect(sidecar).toEqual(direct);
    expect((direct[0] as { code: number }).code).toBe(0);
    expect((direct[10] as { code: number }).code).toBe(1); // NotFound after delete
    expect((direct[14] as { code: number }).code).toBe(1); // Forbidden: RBAC still applies to the workload's token
  });

  async function clientNodeSequence(e: Endpoint) {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(e.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const ns = e.namespace;
    const informer = k8s.makeInformer(kc, `/api/v1/namespaces/${ns}/configmaps`, () => core.listNamespacedConfigMap({ namespace: ns }));
    const seen: string[] = [];
    informer.on('add', (o: k8s.V1ConfigMap) => o.metadata?.name?.startsWith('n-') && seen.push(`add:${o.metadata.name}`));
    informer.on('update', (o: k8s.V1ConfigMap) => o.metadata?.name?.startsWith('n-') && seen.push(`update:${o.metadata.name}:${o.data?.v}`));
    informer.on('delete', (o: k8s.V1ConfigMap) => o.metadata?.name?.startsWith('n-') && seen.push(`delete:${o.metadata.name}`));
    await informer.start();
    const results: unknown[] = [];
    const strip = (o: unknown) => normalize(JSON.stringify(o ?? null), ns);
    for (let i = 0; i < 10; i++)
      results.push(
        strip(await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `n-${i}`, labels: { set: 'n' } }, data: { v: '0' } } })),
      );
    for (let i = 0; i < 10; i++) {
      const current = await core.readNamespacedConfigMap({ namespace: ns, name: `n-${i}` });
      current.data = { v: '1' };
      results.push(strip(await core.replaceNamespacedConfigMap({ namespace: ns, name: `n-${i}`, body: current })));
    }
    results.push(
      strip(
        await core.patchNamespacedConfigMap(
          { namespace: ns, name: 'n-0', body: { data: { v: '2' } } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        ),
      ),
    );
    results.push(
      strip(
        await core.patchNamespacedConfigMap(
          { namespace: ns, name: 'n-1', body: [{ op: 'replace', path: '/data/v', value: '2' }] },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
        ),
      ),
    );
    results.push(
      strip(
        await core.patchNamespacedConfigMap(
          { namespace: ns, name: 'n-2', body: { data: { v: '2' } } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
        ),
      ),
    );
    results.push(strip((await core.deleteCollectionNamespacedConfigMap({ namespace: ns, labelSelector: 'set=n' })).status));
    const expected = 10 + 10 + 3 + 10;
    for (let i = 0; i < 400 && seen.length < expected; i++) await new Promise((r) => setTimeout(r, 50));
    await informer.stop();
    return { results, seen };
  }

  it('client-node informer: every event arrives, in order, and CRUD results match the direct calls', async () => {
    const direct = await clientNodeSequence(endpoints[0]!);
    const sidecar = await clientNodeSequence(endpoints[1]!);
    expect(sidecar.results).toEqual(direct.results);
    expect(direct.seen).toHaveLength(33);
    expect(sidecar.seen).toEqual(direct.seen);
    // Per object: added, updated, then deleted.
    expect(sidecar.seen.filter((s) => s.includes(':n-3'))).toEqual(['add:n-3', 'update:n-3:1', 'delete:n-3']);
  });

  it('python3-kubernetes: CRUD, patches, apply, deletecollection and a watch match the direct calls', async () => {
    const outputs: string[][] = [];
    for (const e of endpoints) {
      const ca = join(lab.dir, `${e.label}-ca.pem`);
      const tokenFile = join(lab.dir, `${e.label}-token`);
      writeFileSync(ca, e.caPem);
      writeFileSync(tokenFile, e.token, { mode: 0o600 });
      const r = await run(PYTHON, [pythonScript('sidecar_crud.py'), e.server, ca, tokenFile, e.namespace]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      outputs.push(r.stdout.trim().split('\n'));
    }
    expect(outputs[1]).toEqual(outputs[0]);
    const watch = JSON.parse(outputs[1]!.at(-1)!) as { watch: string[][] };
    expect(watch.watch.map(([type, name]) => `${type}:${name}`)).toEqual([
      'ADDED:py-a',
      'MODIFIED:py-a',
      'MODIFIED:py-a',
      'MODIFIED:py-a',
      'MODIFIED:py-a',
      'ADDED:py-b',
      'DELETED:py-a',
      'ADDED:py-c',
      'DELETED:py-b',
      'DELETED:py-c',
    ]);
  });
});
