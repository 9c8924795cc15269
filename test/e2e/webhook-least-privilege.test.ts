// The webhook's namespace reconciler on the lab's source with exactly the rights of
// manifests/source/rbac.yaml (a token of its ServiceAccount): it still keeps the CA bundle and the
// sidecar Secret of a labelled namespace, sees which namespaces hold them, and removes them when the
// label goes; and it can no longer read any other Secret (issue 21: it could read every Secret).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { generateBridgeAuthority } from '../../certs/bridge-authority.js';
import { waitUntil } from '../../lib/wait-until.js';
import { CA_BUNDLE_CONFIGMAP, SIDECAR_TLS_SECRET, SYSTEM_NAMESPACE } from '../../lib/names.js';
import { NamespaceReadiness } from '../../webhook/namespace-readiness.js';
import { NamespaceReconciler } from '../../webhook/namespace-reconciler.js';
import { createNamespace, kubectl, kubectlOk } from '../helpers/lab-clients.js';
import { serviceAccountKubeconfig } from '../helpers/shipped-source-identity.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';

const MANIFESTS = join(process.cwd(), 'manifests', 'source');
const WEBHOOK = `system:serviceaccount:${SYSTEM_NAMESPACE}:cluster-bridge-webhook`;
let client: KubeRestClient;
let readiness: NamespaceReadiness;

beforeAll(async () => {
  await kubectl('source', ['create', 'namespace', SYSTEM_NAMESPACE]); // AlreadyExists is fine
  for (const file of ['serviceaccount.yaml', 'rbac.yaml']) await kubectlOk('source', ['apply', '-f', join(MANIFESTS, file)]);
  client = KubeRestClient.load(await serviceAccountKubeconfig(mkdtempSync(join(tmpdir(), 'webhook-rbac-')), SYSTEM_NAMESPACE, 'cluster-bridge-webhook'));
  readiness = new NamespaceReadiness(client, silentLog);
}, 60_000);

afterAll(() => {
  readiness?.stop();
  client?.close();
});

const canI = async (args: string[]) => (await kubectl('source', ['auth', 'can-i', ...args, `--as=${WEBHOOK}`])).stdout.trim();

describe("the webhook's shipped rights on the lab", () => {
  it('cannot read, list or watch any Secret but its own names, nor change them', async () => {
    const other = await createNamespace('source', 'rbac-other');
    await kubectlOk('source', ['-n', other, 'create', 'secret', 'generic', 'private', '--from-literal=k=v']);
    expect((await client.request('GET', `/api/v1/namespaces/${other}/secrets/private`)).status).toBe(403);
    expect((await client.request('GET', '/api/v1/secrets')).status).toBe(403);
    expect((await client.request('GET', `/api/v1/namespaces/kube-system/secrets`)).status).toBe(403);
    expect(await canI(['update', 'secrets/private', '-n', other])).toBe('no');
    expect(await canI(['get', 'configmaps/anything', '-n', other])).toBe('no');
    expect(await canI(['get', `secrets/${SIDECAR_TLS_SECRET}`, '-n', other])).toBe('yes');
  });

  it('keeps the bundle and the sidecar Secret of a labelled namespace, sees them, and removes them with the label', async () => {
    const ns = await createNamespace('source', 'rbac-labelled', { 'cluster-bridge.io/inject': 'enabled' });
    const reconciler = new NamespaceReconciler({ client, issuers: (await generateBridgeAuthority('rbac-e2e-ca')).issuers, log: silentLog });
    // Not ready is only ever said once the watch's list succeeded (before that, everything counts as ready).
    await waitUntil('the readiness watch to list, by name, and see nothing yet', () => !readiness.isReady(ns, 'sidecar'));
    await waitUntil('kube-root-ca.crt published and both objects made', () => reconciler.reconcileNamespace(ns));
    await kubectlOk('source', ['-n', ns, 'get', 'configmap', CA_BUNDLE_CONFIGMAP]);
    await kubectlOk('source', ['-n', ns, 'get', 'secret', SIDECAR_TLS_SECRET]);
    await waitUntil('the readiness watch to see both', () => readiness.isReady(ns, 'sidecar'));
    await kubectlOk('source', ['label', 'namespace', ns, 'cluster-bridge.io/inject-']);
    const removed = await reconciler.cleanup(new Set(await reconciler.labelledNamespaces()));
    expect(removed).toBeGreaterThanOrEqual(2);
    expect((await kubectl('source', ['-n', ns, 'get', 'secret', SIDECAR_TLS_SECRET])).code).not.toBe(0);
  });
});
