/**
 * The one client's raw and streaming calls against the lab's real source kube-apiserver, through a
 * ClusterConnection as the aggregator and the synchronizer hold one: a raw call on the bridge's pool,
 * one on the caller's pool (which carries no credentials of the bridge), and watches read by
 * lib/kube/watch-stream.ts, an ERROR event (410) included.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connectCluster, type ClusterConnection } from '../../lib/kube/cluster-connection.js';
import type { KubeObject } from '../../lib/kube/types.js';
import { waitUntil } from '../../lib/wait-until.js';
import type { WatchEvent } from '../../lib/kube/watch-stream.js';
import { createNamespace, kubeconfigPath, kubectlOk } from '../helpers/lab-clients.js';

let source: ClusterConnection;
let namespace: string;

beforeAll(async () => {
  source = await connectCluster('source', kubeconfigPath('source'));
  namespace = await createNamespace('source', 'raw-client');
});

afterAll(async () => {
  source.close();
  await kubectlOk('source', ['delete', 'namespace', namespace, '--wait=false']);
  await kubectlOk('source', ['delete', 'customresourcedefinition', CRD_NAME, '--ignore-not-found', '--wait=false']);
});

const CRD_GROUP = 'raw-client.e2e.cluster-bridge.test';
const CRD_NAME = `probes.${CRD_GROUP}`;

/** Creates a namespaced custom resource type and returns its collection path in the test's namespace once it lists. */
async function freshCustomResource(): Promise<string> {
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: CRD_NAME },
    spec: {
      group: CRD_GROUP,
      scope: 'Namespaced',
      names: { plural: 'probes', singular: 'probe', kind: 'Probe', listKind: 'ProbeList' },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
    },
  };
  await kubectlOk('source', ['apply', '-f', '-'], JSON.stringify(crd));
  const collection = `/apis/${CRD_GROUP}/v1/namespaces/${namespace}/probes`;
  await waitUntil('the new custom resource listed', async () => (await source.rest.request('GET', collection)).status === 200, { timeoutMs: 60_000 });
  return collection;
}

const rawHeaders = (connection: ClusterConnection, extra: Record<string, string> = {}): string[] =>
  Object.entries({ Host: connection.url.host, Accept: 'application/json', ...extra }).flat();

describe('KubeRestClient.raw against kube-apiserver', () => {
  it("reads an object on the bridge's pool with the caller-built raw headers", async () => {
    const answer = await source.rest.rawBuffered({
      method: 'GET',
      path: `/api/v1/namespaces/${namespace}`,
      headers: rawHeaders(source, source.bridgeHeaders),
      agent: source.asBridge,
      timeoutMs: 10_000,
      maxBytes: 1 << 20,
    });
    expect(answer.status).toBe(200);
    expect(answer.rawHeaders.map((h) => h.toLowerCase())).toContain('audit-id');
    expect(JSON.parse(answer.body.toString())).toMatchObject({ kind: 'Namespace', metadata: { name: namespace } });
  });

  it("on the caller's pool sends no credentials of the bridge: the same read is anonymous, and the server says so", async () => {
    const answer = await source.rest.rawBuffered({
      method: 'GET',
      path: `/api/v1/namespaces/${namespace}`,
      headers: rawHeaders(source),
      agent: source.asCaller,
    });
    expect([401, 403]).toContain(answer.status);
    if (answer.status === 403) expect(JSON.parse(answer.body.toString()).message).toContain('system:anonymous');
  });
});

describe('KubeRestClient.watch against kube-apiserver', () => {
  it('delivers typed events of a change made while it watches', async () => {
    const events: WatchEvent<KubeObject>[] = [];
    const watch = await source.rest.watch<KubeObject>(`/api/v1/namespaces/${namespace}/configmaps?watch=true`, (e) => events.push(e));
    try {
      await kubectlOk('source', ['-n', namespace, 'create', 'configmap', 'watched', '--from-literal=a=1']);
      await waitUntil('the ADDED event', () => events.some((e) => e.type === 'ADDED' && e.object.metadata.name === 'watched'), { timeoutMs: 30_000 });
    } finally {
      watch.stop();
    }
    expect(await watch.ended).toBeUndefined();
  });

  it('ends with a WatchStreamError carrying 410 when the resourceVersion is too old', async () => {
    // A watch cache's window starts at the revision of its first list. A built-in type's cache listed when
    // the API server started, at a revision near 1, and still holds every event since until its buffer
    // wraps: in a young lab, revision 1 is not too old (seen in CI: a replay, no 410). A type created now
    // lists at today's revision, so revision 1 is outside its window.
    const resource = await freshCustomResource();
    // The cache also closes a new watch at once, without an event, when it re-initialises meanwhile (seen
    // once in CI); a reflector watches again after that, and so does the test, at most 5 times.
    let ended: Error | undefined;
    let events: unknown[] = [];
    for (let attempt = 1; attempt <= 5 && (ended as { status?: number } | undefined)?.status !== 410; attempt++) {
      if (attempt > 1) await sleep(1000);
      events = [];
      const watch = await source.rest.watch(`${resource}?watch=true&resourceVersion=1&timeoutSeconds=5`, (e) => events.push(e));
      ended = await watch.ended;
    }
    expect(events).toEqual([]);
    expect(ended).toMatchObject({ code: 'BRIDGE_ERR_KUBE_API', problem: 'error-event', status: 410 });
  });
});
