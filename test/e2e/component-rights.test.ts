// Least privilege, measured (issue 21 item 6): every RBAC file of manifests/ applied to the lab's real
// API servers, then each component's ServiceAccount asked about with SubjectAccessReviews: what it can
// and cannot do, row for row the README's "Identities and their rights" table. And the aggregator's
// destination token acting as callers, with the headers aggregator/identity.ts builds: what its
// narrowed impersonation still does (service accounts by name, users with their groups) and what the
// API server now refuses (system:masters, nodes, a legacy uid, types no hand-off moves).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { impersonationHeaders, type UserInfo } from '../../aggregator/identity/identity.js';
import type { ClusterName } from '../../lab/control-plane.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { SYSTEM_NAMESPACE } from '../../lib/names.js';
import { createNamespace, kubeconfigPath, kubectl, kubectlOk } from '../helpers/lab-clients.js';
import { serviceAccountKubeconfig } from '../helpers/shipped-source-identity.js';

const MANIFESTS = join(process.cwd(), 'manifests');
/** What a real installation applies to each cluster (each folder's kustomization, RBAC and ServiceAccounts only). */
const APPLIED: Record<ClusterName, string[]> = {
  source: [
    'source/serviceaccount.yaml',
    'source/rbac.yaml',
    'source/aggregator-rbac.yaml',
    'synchronizer/serviceaccount.yaml',
    'synchronizer/rbac.yaml',
    'synchronizer-workloads/rbac.yaml',
  ],
  destination: ['destination/serviceaccount.yaml', 'destination/rbac.yaml', 'destination/synchronizer-rbac.yaml', 'synchronizer-workloads/rbac.yaml'],
};

type Identity = 'webhook' | 'aggregator' | 'synchronizer';

interface Check {
  verb: string;
  resource: string;
  group?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

const admins: Partial<Record<ClusterName, KubeRestClient>> = {};
const admin = (cluster: ClusterName) => (admins[cluster] ??= KubeRestClient.load(kubeconfigPath(cluster)));

function serviceAccount(name: string): UserInfo {
  return {
    username: `system:serviceaccount:${SYSTEM_NAMESPACE}:${name}`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${SYSTEM_NAMESPACE}`, 'system:authenticated'],
    extra: {},
  };
}

/** The cluster's own answer: a SubjectAccessReview for the component's ServiceAccount. */
async function allowed(cluster: ClusterName, who: Identity, check: Check): Promise<boolean> {
  const user = serviceAccount(`cluster-bridge-${who}`);
  const review = await admin(cluster).expect<{ status: { allowed?: boolean } }>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', [201], {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: { user: user.username, groups: user.groups, resourceAttributes: { group: '', namespace: '', name: '', subresource: '', ...check } },
  });
  return review.body.status.allowed === true;
}

const anyNs = 'component-rights-any';
const KUBE_SYSTEM = 'kube-system';

/** [cluster, identity, what, allowed]: the README's rights table, as the API servers answer it. */
const TABLE: [ClusterName, Identity, Check, boolean][] = [
  // The webhook (source): its named objects in any namespace, no other Secret; create but not read.
  ['source', 'webhook', { verb: 'get', resource: 'secrets', namespace: anyNs, name: 'cluster-bridge-sidecar-tls' }, true],
  ['source', 'webhook', { verb: 'get', resource: 'secrets', namespace: anyNs, name: 'other' }, false],
  ['source', 'webhook', { verb: 'list', resource: 'secrets', namespace: KUBE_SYSTEM }, false],
  ['source', 'webhook', { verb: 'create', resource: 'secrets', namespace: anyNs }, true],
  [
    'source',
    'webhook',
    { verb: 'patch', resource: 'mutatingwebhookconfigurations', group: 'admissionregistration.k8s.io', name: 'cluster-bridge-injector' },
    true,
  ],
  ['source', 'webhook', { verb: 'patch', resource: 'mutatingwebhookconfigurations', group: 'admissionregistration.k8s.io', name: 'another' }, false],
  ['source', 'webhook', { verb: 'create', resource: 'pods', namespace: anyNs }, false],
  ['source', 'webhook', { verb: 'impersonate', resource: 'users', name: 'admin' }, false],

  // The aggregator on the source: reviews, its fence, Services source-first; no workload object.
  ['source', 'aggregator', { verb: 'create', resource: 'tokenreviews', group: 'authentication.k8s.io' }, true],
  ['source', 'aggregator', { verb: 'create', resource: 'subjectaccessreviews', group: 'authorization.k8s.io' }, true],
  [
    'source',
    'aggregator',
    { verb: 'patch', resource: 'validatingadmissionpolicies', group: 'admissionregistration.k8s.io', name: 'cluster-bridge-fence' },
    true,
  ],
  ['source', 'aggregator', { verb: 'patch', resource: 'validatingadmissionpolicies', group: 'admissionregistration.k8s.io', name: 'another' }, false],
  ['source', 'aggregator', { verb: 'create', resource: 'services', namespace: anyNs }, true],
  ['source', 'aggregator', { verb: 'get', resource: 'secrets', namespace: anyNs }, false],
  ['source', 'aggregator', { verb: 'get', resource: 'configmaps', namespace: anyNs }, false],
  ['source', 'aggregator', { verb: 'impersonate', resource: 'users', name: 'admin' }, false],

  // The aggregator in the destination: constrained impersonation only, on the moved types only.
  [
    'destination',
    'aggregator',
    { verb: 'impersonate:serviceaccount', resource: 'serviceaccounts', group: 'authentication.k8s.io', namespace: anyNs, name: 'app' },
    true,
  ],
  ['destination', 'aggregator', { verb: 'impersonate:user-info', resource: 'users', group: 'authentication.k8s.io', name: 'jane' }, true],
  ['destination', 'aggregator', { verb: 'impersonate:user-info', resource: 'groups', group: 'authentication.k8s.io', name: 'devs' }, true],
  ['destination', 'aggregator', { verb: 'impersonate-on:serviceaccount:list', resource: 'secrets', namespace: anyNs }, true],
  [
    'destination',
    'aggregator',
    { verb: 'impersonate-on:user-info:patch', resource: 'deployments', group: 'apps', subresource: 'scale', namespace: anyNs },
    true,
  ],
  ['destination', 'aggregator', { verb: 'impersonate-on:user-info:create', resource: 'pods', namespace: anyNs }, false],
  ['destination', 'aggregator', { verb: 'impersonate-on:serviceaccount:create', resource: 'pods', subresource: 'exec', namespace: anyNs }, false],
  ['destination', 'aggregator', { verb: 'impersonate-on:user-info:create', resource: 'clusterrolebindings', group: 'rbac.authorization.k8s.io' }, false],
  ['destination', 'aggregator', { verb: 'impersonate-on:user-info:list', resource: 'nodes' }, false],
  ['destination', 'aggregator', { verb: 'impersonate:arbitrary-node', resource: 'nodes', group: 'authentication.k8s.io', name: 'node-1' }, false],
  ['destination', 'aggregator', { verb: 'impersonate:associated-node', resource: 'nodes', group: 'authentication.k8s.io', name: '*' }, false],
  ['destination', 'aggregator', { verb: 'impersonate', resource: 'users', name: 'admin' }, false],
  ['destination', 'aggregator', { verb: 'impersonate', resource: 'groups', name: 'system:masters' }, false],
  ['destination', 'aggregator', { verb: 'impersonate', resource: 'serviceaccounts', namespace: KUBE_SYSTEM, name: 'generic-garbage-collector' }, false],
  ['destination', 'aggregator', { verb: 'get', resource: 'secrets', namespace: anyNs }, false],
  ['destination', 'aggregator', { verb: 'list', resource: 'namespaces' }, true],
  ['destination', 'aggregator', { verb: 'update', resource: 'configmaps', namespace: SYSTEM_NAMESPACE, name: 'cluster-bridge-routing' }, true],

  // The synchronizer, both clusters: the shards, escalate/bind for namespaced RBAC (kept: see the ADR).
  ...(['source', 'destination'] as const).flatMap((cluster): [ClusterName, Identity, Check, boolean][] => [
    [cluster, 'synchronizer', { verb: 'update', resource: 'secrets', namespace: anyNs }, true],
    [cluster, 'synchronizer', { verb: 'update', resource: 'deployments', group: 'apps', subresource: 'status', namespace: anyNs }, true],
    [cluster, 'synchronizer', { verb: 'escalate', resource: 'roles', group: 'rbac.authorization.k8s.io', namespace: anyNs }, true],
    [cluster, 'synchronizer', { verb: 'bind', resource: 'clusterroles', group: 'rbac.authorization.k8s.io', name: 'cluster-admin' }, true],
    [cluster, 'synchronizer', { verb: 'get', resource: 'pods', namespace: anyNs }, false],
    [cluster, 'synchronizer', { verb: 'create', resource: 'pods', subresource: 'exec', namespace: anyNs }, false],
    [cluster, 'synchronizer', { verb: 'delete', resource: 'namespaces', name: anyNs }, false],
    [cluster, 'synchronizer', { verb: 'impersonate', resource: 'users', name: 'admin' }, false],
    [
      cluster,
      'synchronizer',
      { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: KUBE_SYSTEM, name: 'generic-garbage-collector' },
      false,
    ],
    [cluster, 'synchronizer', { verb: 'create', resource: 'mutatingwebhookconfigurations', group: 'admissionregistration.k8s.io' }, false],
  ]),
  // Cluster RBAC follows the source (ADR 0013): read-only there, written here.
  ['source', 'synchronizer', { verb: 'create', resource: 'clusterrolebindings', group: 'rbac.authorization.k8s.io' }, false],
  ['source', 'synchronizer', { verb: 'escalate', resource: 'clusterroles', group: 'rbac.authorization.k8s.io' }, false],
  ['source', 'synchronizer', { verb: 'list', resource: 'clusterroles', group: 'rbac.authorization.k8s.io' }, true],
  ['destination', 'synchronizer', { verb: 'create', resource: 'clusterrolebindings', group: 'rbac.authorization.k8s.io' }, true],
  ['destination', 'synchronizer', { verb: 'escalate', resource: 'clusterroles', group: 'rbac.authorization.k8s.io' }, true],
  [
    'destination',
    'synchronizer',
    { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: SYSTEM_NAMESPACE, name: 'cluster-bridge-synchronizer' },
    true,
  ],
  [
    'destination',
    'synchronizer',
    { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: SYSTEM_NAMESPACE, name: 'cluster-bridge-aggregator' },
    false,
  ],
];

const describeCheck = ([cluster, who, c, yes]: (typeof TABLE)[number]) =>
  `${cluster} ${who} ${yes ? 'can' : 'cannot'} ${c.verb} ${c.group ? `${c.resource}.${c.group}` : c.resource}${c.subresource ? `/${c.subresource}` : ''}` +
  `${c.name ? ` ${c.name}` : ''}${c.namespace ? ` in ${c.namespace}` : ''}`;

let appNs: string;
let aggregator: KubeRestClient;

beforeAll(async () => {
  for (const cluster of ['source', 'destination'] as const) {
    await kubectl(cluster, ['create', 'namespace', SYSTEM_NAMESPACE]); // AlreadyExists is fine
    for (const file of APPLIED[cluster]) await kubectlOk(cluster, ['apply', '-f', join(MANIFESTS, file)]);
  }
  // A workload namespace in the destination, as the mirror makes it: a service account with `edit`, a group with `view`.
  appNs = await createNamespace('destination', 'rights');
  await kubectlOk('destination', ['-n', appNs, 'create', 'serviceaccount', 'app']);
  await kubectlOk('destination', ['-n', appNs, 'create', 'rolebinding', 'app-edit', '--clusterrole=edit', `--serviceaccount=${appNs}:app`]);
  await kubectlOk('destination', ['-n', appNs, 'create', 'rolebinding', 'devs-view', '--clusterrole=view', '--group=devs']);
  await kubectlOk('destination', ['-n', appNs, 'create', 'configmap', 'settings', '--from-literal=k=v']);
  const dir = mkdtempSync(join(tmpdir(), 'component-rights-'));
  aggregator = KubeRestClient.load(await serviceAccountKubeconfig(dir, SYSTEM_NAMESPACE, 'cluster-bridge-aggregator', 'aggregator', 'destination'));
}, 120_000);

afterAll(() => {
  for (const client of [...Object.values(admins), aggregator]) client?.close();
});

describe('each component can do what the README says, and no more', () => {
  it.each(TABLE.map((row) => [describeCheck(row), row] as const))('%s', async (_, [cluster, who, check, expected]) => {
    expect(await allowed(cluster, who, check)).toBe(expected);
  });
});

/** Impersonate-* as one header each (Impersonate-Group repeats), as the proxy sets them. */
function asHeaders(flat: string[]): Record<string, string | string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i < flat.length; i += 2) (out[flat[i]!] ??= []).push(flat[i + 1]!);
  return out;
}

async function asCaller(user: UserInfo | Record<string, string | string[]>, path: string, method = 'GET', body?: unknown) {
  const headers = 'username' in user ? asHeaders(impersonationHeaders(user as UserInfo)) : user;
  return aggregator.request<{ message?: string; metadata?: { name?: string } }>(method, path, body, { headers });
}

describe("the aggregator's destination token acting as callers", () => {
  const podBoundToken = (): UserInfo => ({
    username: `system:serviceaccount:${appNs}:app`,
    uid: '0f1e2d3c-aaaa-bbbb-cccc-000000000001',
    groups: ['system:serviceaccounts', `system:serviceaccounts:${appNs}`, 'system:authenticated'],
    extra: { 'authentication.kubernetes.io/pod-name': ['app-1'], 'authentication.kubernetes.io/credential-id': ['JTI=1'] },
  });

  it("acts as a pod's service account (as the source's TokenReview gives it) on a moved type, with that account's rights", async () => {
    const got = await asCaller(podBoundToken(), `/api/v1/namespaces/${appNs}/configmaps/settings`);
    expect(got.status).toBe(200);
    const write = await asCaller(podBoundToken(), `/api/v1/namespaces/${appNs}/configmaps`, 'POST', { metadata: { name: 'written' }, data: { a: 'b' } });
    expect(write.status).toBe(201);
    // The account's own rights still decide: `edit` reads no RoleBindings' escalation, and no Secret elsewhere.
    expect((await asCaller(podBoundToken(), `/api/v1/namespaces/${KUBE_SYSTEM}/secrets`)).status).toBe(403);
  });

  it('acts as a user with its groups, uid and credential id', async () => {
    const jane: UserInfo = {
      username: 'jane',
      uid: 'jane-uid',
      groups: ['devs', 'system:authenticated'],
      extra: { 'authentication.kubernetes.io/credential-id': ['X509SHA256=ab'] },
    };
    expect((await asCaller(jane, `/api/v1/namespaces/${appNs}/configmaps`)).status).toBe(200);
    // `view` cannot write: the destination decided as jane, not as the bridge.
    expect((await asCaller(jane, `/api/v1/namespaces/${appNs}/configmaps`, 'POST', { metadata: { name: 'jane' } })).status).toBe(403);
  });

  it('cannot act as system:masters, a node, or anyone on a type no hand-off moves', async () => {
    const masters = await asCaller(
      { username: 'jane', groups: ['system:masters', 'system:authenticated'], extra: {} },
      `/api/v1/namespaces/${appNs}/configmaps`,
    );
    expect(masters.status).toBe(403);
    expect(masters.body.message).toContain('system:masters');
    const node = await asCaller({ 'Impersonate-User': 'system:node:node-1' }, `/api/v1/namespaces/${appNs}/configmaps`);
    expect(node.status).toBe(403);
    const pods = await asCaller(podBoundToken(), `/api/v1/namespaces/${appNs}/pods`);
    expect(pods.status).toBe(403);
    expect(pods.body.message).toContain('impersonate-on:serviceaccount:list');
    const crb = await asCaller({ username: 'jane', groups: ['system:authenticated'], extra: {} }, '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings');
    expect(crb.status).toBe(403);
    expect(crb.body.message).toContain('impersonate-on:user-info:list');
  });

  it("cannot use the legacy filter: a service account sent with its uid (the garbage collector's, say) is refused", async () => {
    const legacy = await asCaller(
      { 'Impersonate-User': `system:serviceaccount:${KUBE_SYSTEM}:generic-garbage-collector`, 'Impersonate-Uid': 'x' },
      `/api/v1/namespaces/${appNs}/secrets`,
    );
    expect(legacy.status).toBe(403);
    expect((await asCaller({ 'Impersonate-User': 'admin', 'Impersonate-Group': 'system:masters' }, '/api/v1/nodes')).status).toBe(403);
  });
});
