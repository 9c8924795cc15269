/**
 * The bridge reads each request (verb, group, version, resource, subresource, namespace, name) the way
 * kube-apiserver does: real clients (kubectl, client-node, python3-kubernetes) send their usual
 * requests to the lab, and every request the API server audited meanwhile, from any client (the
 * controllers and kwok included), is compared with parseRequestInfo on the same method and URI.
 */
import { describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { readFileSync, statSync } from 'node:fs';
import { auditLogPath } from '../../lab/lab-files.js';
import { parseRequestInfo } from '../../lib/routing/request-info.js';
import { createNamespace, kubeConfigFor, kubeconfigPath, kubectl, kubectlOk, PYTHON, pythonScript, run } from '../helpers/lab-clients.js';

interface AuditEvent {
  stage: string;
  auditID: string;
  verb: string;
  requestURI: string;
  userAgent?: string;
  objectRef?: { resource?: string; namespace?: string; name?: string; apiGroup?: string; apiVersion?: string; subresource?: string };
}

/** kube-apiserver's verb for a resource request back to the method it came from (HEAD reads as GET). */
const METHOD_OF_VERB: Record<string, string> = {
  get: 'GET',
  list: 'GET',
  watch: 'GET',
  create: 'POST',
  update: 'PUT',
  patch: 'PATCH',
  delete: 'DELETE',
  deletecollection: 'DELETE',
};

/** Each request once (watches appear at ResponseStarted and ResponseComplete). */
function auditedSince(offset: number): AuditEvent[] {
  const text = readFileSync(auditLogPath('source')).subarray(offset).toString('utf8');
  const byId = new Map<string, AuditEvent>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const event = JSON.parse(line) as AuditEvent;
    byId.set(event.auditID, event);
  }
  return [...byId.values()];
}

/** What the API server read, in parseRequestInfo's terms. */
function apiServerReading(event: AuditEvent) {
  const ref = event.objectRef;
  if (!ref) return { isResourceRequest: false, verb: event.verb };
  return {
    isResourceRequest: true,
    verb: event.verb,
    apiGroup: ref.apiGroup ?? '',
    apiVersion: ref.apiVersion ?? '',
    resource: ref.resource ?? '',
    subresource: ref.subresource ?? '',
    namespace: ref.namespace ?? '',
    name: ref.name ?? '',
  };
}

function bridgeReading(event: AuditEvent) {
  const method = event.objectRef ? METHOD_OF_VERB[event.verb]! : event.verb.toUpperCase();
  const info = parseRequestInfo(method, event.requestURI);
  if (!event.objectRef) return { isResourceRequest: info.isResourceRequest, verb: info.verb };
  // The audit completes a create's name (and namespace) from the object in the body; the URL has neither.
  const fromBody = event.verb === 'create' && !info.name;
  return {
    isResourceRequest: info.isResourceRequest,
    verb: info.verb,
    apiGroup: info.apiGroup,
    apiVersion: info.apiVersion,
    resource: info.resource,
    subresource: info.subresource,
    namespace: fromBody && !info.namespace ? (event.objectRef.namespace ?? '') : info.namespace,
    name: fromBody ? (event.objectRef.name ?? '') : info.name,
  };
}

async function kubectlRequests(ns: string): Promise<void> {
  const manifest = (kind: string, extra: object) => JSON.stringify({ apiVersion: 'v1', kind, metadata: { name: 'kc-shapes', namespace: ns }, ...extra });
  const commands: string[][] = [
    ['-n', ns, 'create', 'configmap', 'kc-shapes', '--from-literal=a=b'],
    ['-n', ns, 'get', 'configmap', 'kc-shapes', '-o', 'json'],
    ['-n', ns, 'get', 'configmaps'],
    ['-n', ns, 'label', 'configmap', 'kc-shapes', 'x=y'],
    ['-n', ns, 'replace', '-f', '-'],
    ['-n', ns, 'apply', '--server-side', '--force-conflicts', '-f', '-'],
    ['-n', ns, 'get', 'configmaps', '--watch', '--request-timeout=1s'],
    ['-n', ns, 'create', 'deployment', 'kc-shapes', '--image=registry.k8s.io/pause:3.10'],
    ['-n', ns, 'scale', 'deployment', 'kc-shapes', '--replicas=2'],
    ['-n', ns, 'get', 'deployment', 'kc-shapes', '--subresource=scale', '-o', 'json'],
    ['-n', ns, 'create', 'service', 'clusterip', 'kc-shapes', '--tcp=80:80'],
    ['get', '--raw', `/api/v1/namespaces/${ns}/services/kc-shapes:80/proxy/healthz`],
    ['get', '--raw', `/api/v1/namespaces/${ns}/pods/missing/proxy/`],
    ['get', '--raw', `/api/v1/watch/namespaces/${ns}/configmaps?timeoutSeconds=1`],
    ['get', '--raw', `/api/v1/namespaces/${ns}/configmaps?fieldSelector=metadata.name%3Dkc-shapes`],
    ['-n', ns, 'create', 'serviceaccount', 'kc-shapes'],
    ['-n', ns, 'create', 'token', 'kc-shapes'],
    ['auth', 'can-i', 'get', 'pods', '-n', ns],
    ['get', 'namespace', ns],
    ['get', 'nodes'],
    ['api-resources'],
    ['get', '--raw', '/version'],
    ['get', '--raw', '/healthz'],
    ['get', '--raw', '/openapi/v3'],
    ['get', '--raw', '/apis/apps/v1'],
    ['-n', ns, 'logs', 'missing'],
    ['-n', ns, 'delete', 'configmap', 'kc-shapes'],
    ['delete', '--raw', `/api/v1/namespaces/${ns}/configmaps`],
  ];
  for (const args of commands) {
    const input = args.includes('replace')
      ? manifest('ConfigMap', { data: { replaced: 'yes' } })
      : args.includes('apply')
        ? manifest('ConfigMap', { data: { applied: 'yes' } })
        : undefined;
    await kubectl('source', args, input); // some are meant to fail (a missing pod); the request is what counts
  }
}

async function clientNodeRequests(ns: string): Promise<void> {
  const kc = kubeConfigFor('source');
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'node-shapes' } } });
  await core.readNamespacedConfigMap({ namespace: ns, name: 'node-shapes' });
  await core.listConfigMapForAllNamespaces({ limit: 5 });
  await apps.readNamespacedDeploymentScale({ namespace: ns, name: 'kc-shapes' }).catch(() => undefined);
  const informer = k8s.makeInformer(kc, `/api/v1/namespaces/${ns}/configmaps`, () => core.listNamespacedConfigMap({ namespace: ns }));
  const added = new Promise<void>((resolve) => informer.on('add', () => resolve()));
  await informer.start();
  await added;
  await informer.stop();
  await core.deleteNamespacedConfigMap({ namespace: ns, name: 'node-shapes' });
}

describe('request parsing against kube-apiserver audit records', () => {
  it('reads every audited request as the API server did', async () => {
    const offset = statSync(auditLogPath('source')).size;
    const ns = await createNamespace('source', 'shapes');
    await kubectlRequests(ns);
    await clientNodeRequests(ns);
    const python = await run(PYTHON, [pythonScript('request_shapes.py'), kubeconfigPath('source'), ns]);
    expect({ code: python.code, stderr: python.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    await kubectlOk('source', ['delete', 'namespace', ns, '--wait=false']);

    const events = auditedSince(offset);
    const mismatches = events
      .map((event) => ({ uri: event.requestURI, apiServer: apiServerReading(event), bridge: bridgeReading(event) }))
      .filter((m) => JSON.stringify(m.apiServer) !== JSON.stringify(m.bridge));
    expect(mismatches).toEqual([]);

    // The run covered what it meant to: these shapes are among the audited requests of the test's namespace.
    const shapes = new Set(
      events.filter((e) => e.objectRef?.namespace === ns).map((e) => [e.verb, e.objectRef!.resource, e.objectRef!.subresource ?? ''].join(' ').trim()),
    );
    for (const shape of [
      'create configmaps',
      'get configmaps',
      'list configmaps',
      'watch configmaps',
      'patch configmaps',
      'update configmaps',
      'delete configmaps',
      'deletecollection configmaps',
      'patch deployments scale',
      'get deployments scale',
      'patch deployments status',
      'get services proxy',
      'get pods proxy',
      'create serviceaccounts token',
      'get pods log',
      'get pods exec',
      'get namespaces',
    ]) {
      expect({ shape, seen: shapes.has(shape) }).toEqual({ shape, seen: true });
    }
    expect(events.some((e) => !e.objectRef && e.requestURI === '/version')).toBe(true);
  }, 120_000);
});
