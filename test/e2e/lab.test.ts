import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { requireLab } from '../../lab/lab-files.js';
import { labDir } from '../../lib/process/paths.js';
import { PYTHON, createNamespace, kubeConfigFor, kubeconfigPath, kubectl, kubectlOk, pythonScript, uniqueName } from '../helpers/lab-clients.js';
import { waitUntil } from '../../lib/wait-until.js';

const clusters = ['source', 'destination'] as const;

describe.each(clusters)('lab %s cluster', (cluster) => {
  it('answers /readyz through kubectl', async () => {
    expect((await kubectlOk(cluster, ['get', '--raw', '/readyz'])).trim()).toBe('ok');
  });

  it('creates a namespace and a ConfigMap, and publishes the default ServiceAccount and kube-root-ca.crt in it', async () => {
    const ns = await createNamespace(cluster, 'lab');
    await kubectlOk(cluster, ['-n', ns, 'create', 'configmap', 'cm1', '--from-literal=k=v']);
    expect(await kubectlOk(cluster, ['-n', ns, 'get', 'configmap', 'cm1', '-o', 'jsonpath={.data.k}'])).toBe('v');
    await waitUntil('default ServiceAccount', async () => ((await kubectl(cluster, ['-n', ns, 'get', 'sa', 'default'])).code === 0 ? true : undefined));
    const ca = await waitUntil('kube-root-ca.crt', async () => {
      const r = await kubectl(cluster, ['-n', ns, 'get', 'configmap', 'kube-root-ca.crt', '-o', 'jsonpath={.data.ca\\.crt}']);
      return r.code === 0 && r.stdout.includes('BEGIN CERTIFICATE') ? r.stdout : undefined;
    });
    const kc = kubeConfigFor(cluster);
    expect(ca.trim()).toBe(Buffer.from(kc.getCurrentCluster()!.caData!, 'base64').toString().trim());
  });

  it('lists and watches with @kubernetes/client-node', async () => {
    const ns = await createNamespace(cluster, 'cn');
    const kc = kubeConfigFor(cluster);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'before' }, data: { a: '1' } } });
    const list = await core.listNamespacedConfigMap({ namespace: ns });
    expect(list.items.map((i) => i.metadata?.name)).toContain('before');

    const events: string[] = [];
    let ended: string | undefined;
    const watch = await new k8s.Watch(kc).watch(
      `/api/v1/namespaces/${ns}/configmaps`,
      // kube-root-ca.crt is published into the new namespace at its own pace: watch only ours.
      { resourceVersion: list.metadata!.resourceVersion!, fieldSelector: 'metadata.name=during' },
      (type, obj: k8s.V1ConfigMap) => events.push(`${type}:${obj.metadata?.name}`),
      (err) => (ended = err ? `failed (${String(err)})` : 'ended'),
    );
    try {
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'during' } } });
      await core.patchNamespacedConfigMap(
        { namespace: ns, name: 'during', body: { data: { b: '2' } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      await core.deleteNamespacedConfigMap({ namespace: ns, name: 'during' });
      // A watch that ends or fails early fails here at once, naming what it delivered.
      await waitUntil('three events of "during"', () => events.length >= 3 || undefined, {
        timeoutMs: 30_000,
        abandon: () => ended && `the watch ${ended} after ${events.join(', ') || 'no event'}`,
      });
    } finally {
      watch.abort();
    }
    expect(events).toEqual(['ADDED:during', 'MODIFIED:during', 'DELETED:during']);
  });

  it('lists and watches with python3-kubernetes', async () => {
    const ns = await createNamespace(cluster, 'py');
    await kubectlOk(cluster, ['-n', ns, 'create', 'configmap', 'existing']);
    await waitUntil('kube-root-ca.crt', async () =>
      (await kubectl(cluster, ['-n', ns, 'get', 'configmap', 'kube-root-ca.crt'])).code === 0 ? true : undefined,
    );
    const child = spawn(PYTHON, [pythonScript('list_watch.py'), kubeconfigPath(cluster), ns, '2']);
    const lines: string[] = [];
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
    child.stdout.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
    await waitUntil('python list', async () => (lines.length > 0 ? true : undefined));
    expect(JSON.parse(lines[0]!).list).toEqual(['existing', 'kube-root-ca.crt']);
    await kubectlOk(cluster, ['-n', ns, 'create', 'configmap', 'watched']);
    await kubectlOk(cluster, ['-n', ns, 'delete', 'configmap', 'watched']);
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
    expect(lines.slice(1).map((l) => JSON.parse(l) as { type: string; name: string })).toEqual([
      { type: 'ADDED', name: 'watched' },
      { type: 'DELETED', name: 'watched' },
    ]);
  });
});

describe('lab isolation', () => {
  it('keeps the two clusters independent', async () => {
    const ns = await createNamespace('source', 'iso');
    await kubectlOk('source', ['-n', ns, 'create', 'configmap', 'only-in-source']);
    const r = await kubectl('destination', ['get', 'namespace', ns]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('NotFound');
  });

  it('rejects a service-account token of one cluster in the other', async () => {
    const state = requireLab();
    const ns = await createNamespace('source', 'tok');
    await waitUntil('default ServiceAccount', async () => ((await kubectl('source', ['-n', ns, 'get', 'sa', 'default'])).code === 0 ? true : undefined));
    const token = (await kubectlOk('source', ['-n', ns, 'create', 'token', 'default'])).trim();
    const status = (server: string, caPem: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${server}/api/v1/namespaces/${ns}/configmaps`, { ca: caPem, headers: { authorization: `Bearer ${token}` } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    const ca = (c: 'source' | 'destination') => readFileSync(join(labDir(), c, 'pki', 'ca.crt'), 'utf8');
    // Authenticated by its own cluster (403: the default SA has no RBAC grants), unknown to the other (401).
    expect(await status(state.clusters.source.server, ca('source'))).toBe(403);
    expect(await status(state.clusters.destination.server, ca('destination'))).toBe(401);
  });

  it('uses different certificate authorities for the two clusters', () => {
    const kcs = clusters.map((c) => kubeConfigFor(c).getCurrentCluster()!.caData);
    expect(kcs[0]).not.toEqual(kcs[1]);
    expect(uniqueName('x')).not.toEqual(uniqueName('x'));
  });
});
