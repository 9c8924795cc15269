// manifests/synchronizer (applied to the source): the files kustomize applies, a Deployment its own
// config loader accepts, RBAC that covers exactly the default shards with no wildcard, the same as its
// identity in the destination (it mirrors both ways), and a Service the aggregator's URL points at;
// manifests/synchronizer-workloads: the opt-in rights on the workload kinds.
import { describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { IN_CLUSTER } from '../../lib/process/config.js';
import { COMPONENT_LABEL, SYNCHRONIZER_LEASE, SYNCHRONIZER_PORT, SYNCHRONIZER_SERVICE, SYNCHRONIZER_TLS_SECRET, SYSTEM_NAMESPACE } from '../../lib/names.js';
import { repoRoot } from '../../lib/process/paths.js';
import { DEFAULT_SHARDS, SOURCE_PINNED_SHARDS } from '../../lib/routing/resource-classes.js';
import { parseShardKey } from '../../lib/routing/shard-hash.js';
import { SOURCE_STATUS_SHARDS } from '../../lib/mirror/workload-status.js';
import { loadSyncConfig, SYNC_ENV } from '../../synchronizer/config.js';
import { containerPort, envWithMountedSecrets, manifestLoader, secretMountedAt, type EnvVar } from '../helpers/manifests.js';

const SERVICE_ACCOUNT = 'cluster-bridge-synchronizer';
const dir = join(repoRoot(), 'manifests', 'synchronizer');
const load = manifestLoader('synchronizer');
const [deployment] = load('deployment.yaml');
const pod = deployment!.spec.template.spec;
const container = pod.containers[0];
const env = container.env as EnvVar[];

describe('manifests/synchronizer', () => {
  it('lists exactly its files, in the system namespace, and leaves the Namespace to manifests/source', () => {
    const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { namespace: string; resources: string[] };
    expect(kustomization.resources.sort()).toEqual(['deployment.yaml', 'rbac.yaml', 'service.yaml', 'serviceaccount.yaml']);
    for (const file of kustomization.resources) expect(existsSync(join(dir, file))).toBe(true);
    expect(kustomization.namespace).toBe(SYSTEM_NAMESPACE);
    expect(load('serviceaccount.yaml')[0]!.metadata).toEqual({ name: SERVICE_ACCOUNT, namespace: SYSTEM_NAMESPACE });
    expect(manifestLoader('source')('namespace.yaml')[0]!.metadata.name).toBe(SYSTEM_NAMESPACE);
  });

  it('runs two locked-down, never-injected replicas of the bridgectl image, recreated rather than rolled', () => {
    expect(deployment!.spec.replicas).toBe(2);
    // Only the leader is ready: a rolling update would wait forever for a new standby.
    expect(deployment!.spec.strategy).toEqual({ type: 'Recreate' });
    expect(deployment!.spec.template.metadata.labels[COMPONENT_LABEL]).toBe('synchronizer');
    expect(deployment!.spec.template.metadata.labels).toMatchObject(deployment!.spec.selector.matchLabels);
    expect(pod.serviceAccountName).toBe(SERVICE_ACCOUNT);
    expect(container.image).toBe(manifestLoader('source')('deployment.yaml')[0]!.spec.template.spec.containers[0].image);
    expect(container.args).toEqual(['sync', 'serve']);
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'ops' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'ops' });
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.topologySpreadConstraints[0].labelSelector.matchLabels).toEqual(deployment!.spec.selector.matchLabels);
  });

  it('sets only variables the synchronizer reads, and its config loader accepts them', () => {
    const names = env.map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(Object.values(SYNC_ENV)).toContain(name);
    const root = mkdtempSync(join(tmpdir(), 'synchronizer-env-'));
    const secrets = { [SYNCHRONIZER_TLS_SECRET]: ['tls.crt', 'tls.key', 'ca.crt'], 'cluster-bridge-destination-kubeconfig': ['kubeconfig', 'token'] };
    const config = loadSyncConfig(envWithMountedSecrets(root, pod, container, secrets));
    rmSync(root, { recursive: true, force: true });
    expect(config).toMatchObject({ sourceKubeconfig: IN_CLUSTER, shards: [...DEFAULT_SHARDS], leaseName: SYNCHRONIZER_LEASE });
    // The Secret it renews the destination token into is the one mounted as the destination kubeconfig.
    expect(config.destinationTokenSecret).toEqual({ namespace: 'cluster-bridge-system', name: 'cluster-bridge-destination-kubeconfig' });
    expect(config.listenPort).toBe(containerPort(container, 'https'));
    expect(config.opsPort).toBe(containerPort(container, 'ops'));
    const value = (name: string) => env.find((e) => e.name === name)!.value!;
    expect(secretMountedAt(pod, container, `${value(SYNC_ENV.tlsDir)}/tls.crt`)).toBe(SYNCHRONIZER_TLS_SECRET);
    expect(secretMountedAt(pod, container, value(SYNC_ENV.destinationKubeconfig))).toBe('cluster-bridge-destination-kubeconfig');
  });

  it('serves the catch-up API through a Service on the port the aggregator is told', () => {
    const [service] = load('service.yaml');
    expect(service!.metadata.name).toBe(SYNCHRONIZER_SERVICE);
    expect(service!.spec.selector).toEqual(deployment!.spec.selector.matchLabels);
    expect(service!.spec.ports).toEqual([{ name: 'https', port: SYNCHRONIZER_PORT, targetPort: 'https' }]);
    expect(containerPort(container, 'https')).toBe(SYNCHRONIZER_PORT);
    const aggregator = manifestLoader('destination')('deployment.yaml')[0]!.spec.template.spec.containers[0];
    const url = (aggregator.env as EnvVar[]).find((e) => e.name === 'BRIDGE_SYNCHRONIZER_URL')!.value!;
    expect(new URL(url).port).toBe(String(SYNCHRONIZER_PORT));
  });

  it('may mirror exactly the default shards both ways, the same rights as its identity in the destination', () => {
    const docs = load('rbac.yaml').filter((d) => d.metadata.name === SERVICE_ACCOUNT);
    expect(docs.map((d) => d.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
    // Namespaced: only the Secret of its renewed destination token.
    expect(docs.find((d) => d.kind === 'Role')!.rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['cluster-bridge-destination-kubeconfig'], verbs: ['get', 'patch'] },
    ]);
    const [role] = docs.filter((d) => d.kind === 'ClusterRole');
    const rules = role!.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    for (const rule of rules) {
      expect(rule.verbs).not.toContain('*');
      expect(rule.resources).not.toContain('*');
      expect(rule.apiGroups).not.toContain('*');
    }
    const listed = rules
      .filter((r) => r.verbs.includes('list'))
      .flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => (g ? `${res}.${g}` : res))));
    expect(listed.sort()).toEqual([...DEFAULT_SHARDS].sort());
    for (const shard of DEFAULT_SHARDS) {
      const { group, resource } = parseShardKey(shard);
      expect(rules.find((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes('list'))!.verbs).toEqual([
        'get',
        'list',
        'watch',
        'create',
        'update',
        'delete',
      ]);
    }
    // Conflicts are reported as Events on the replica's objects: create, nothing more.
    expect(rules.filter((r) => r.resources.includes('events'))).toEqual([{ apiGroups: [''], resources: ['events'], verbs: ['create'] }]);
    const destination = manifestLoader('destination')('synchronizer-rbac.yaml').find((d) => d.kind === 'ClusterRole' && d.metadata.name === SERVICE_ACCOUNT);
    expect(role).toEqual(destination);
    const [binding] = docs.filter((d) => d.kind === 'ClusterRoleBinding');
    expect(binding!.subjects).toEqual([{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace: SYSTEM_NAMESPACE }]);
  });
});

describe('manifests/synchronizer: cluster RBAC in the source', () => {
  it('only reads ClusterRoles and ClusterRoleBindings: they are mirrored source -> destination and never back (docs/adr/0013)', () => {
    const docs = load('rbac.yaml').filter((d) => d.metadata.name === `${SERVICE_ACCOUNT}-cluster-rbac`);
    expect(docs.map((d) => d.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding']);
    const [role] = docs.filter((d) => d.kind === 'ClusterRole');
    const [binding] = docs.filter((d) => d.kind === 'ClusterRoleBinding');
    const resources = SOURCE_PINNED_SHARDS.map((shard) => parseShardKey(shard).resource);
    expect(role!.rules).toEqual([{ apiGroups: ['rbac.authorization.k8s.io'], resources, verbs: ['get', 'list', 'watch'] }]);
    expect(binding!.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role!.metadata.name });
    expect(binding!.subjects).toEqual([{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace: SYSTEM_NAMESPACE }]);
  });
});

describe('manifests/synchronizer-workloads (opt-in, applied to both clusters)', () => {
  const workloads = manifestLoader('synchronizer-workloads');
  const docs = workloads('rbac.yaml');
  const [role] = docs.filter((d) => d.kind === 'ClusterRole');
  const rules = role!.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
  const granted = (verb: string) =>
    rules.filter((r) => r.verbs.includes(verb)).flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => (g ? `${res}.${g}` : res))));

  it('is its own kustomization, part of neither default set: the workload kinds stay out of DEFAULT_SHARDS', () => {
    const kustomization = parse(readFileSync(join(repoRoot(), 'manifests', 'synchronizer-workloads', 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect(kustomization.resources).toEqual(['rbac.yaml']);
    for (const folder of ['synchronizer', 'destination']) {
      const other = parse(readFileSync(join(repoRoot(), 'manifests', folder, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
      expect(other.resources.join(' ')).not.toContain('workloads');
    }
    for (const shard of SOURCE_STATUS_SHARDS) expect(DEFAULT_SHARDS).not.toContain(shard);
  });

  it('grants exactly the workload shards the verbs of a mirrored shard, and update on their status, with no wildcard', () => {
    for (const rule of rules) for (const field of [rule.verbs, rule.resources, rule.apiGroups]) expect(field).not.toContain('*');
    const mirrored = [...SOURCE_STATUS_SHARDS].sort();
    for (const verb of ['get', 'list', 'watch', 'create', 'update', 'delete']) {
      expect(
        granted(verb)
          .filter((key) => !key.includes('/'))
          .sort(),
      ).toEqual(mirrored);
    }
    const status = mirrored.map((shard) => {
      const { group, resource } = parseShardKey(shard);
      return `${resource}/status.${group}`;
    });
    expect(
      granted('update')
        .filter((key) => key.includes('/'))
        .sort(),
    ).toEqual(status.sort());
    expect(rules.flatMap((r) => r.verbs).filter((v) => !['get', 'list', 'watch', 'create', 'update', 'delete'].includes(v))).toEqual([]);
  });

  it("binds the synchronizer's service account, the same name in both clusters", () => {
    const [binding] = docs.filter((d) => d.kind === 'ClusterRoleBinding');
    expect(binding!.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role!.metadata.name });
    expect(binding!.subjects).toEqual([{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace: SYSTEM_NAMESPACE }]);
    const destination = manifestLoader('destination')('synchronizer-rbac.yaml').find((d) => d.kind === 'ServiceAccount');
    expect(destination!.metadata).toEqual({ name: SERVICE_ACCOUNT, namespace: SYSTEM_NAMESPACE });
  });
});
