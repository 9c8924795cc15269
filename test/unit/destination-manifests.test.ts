// manifests/destination: the files kustomize applies exist, names match lib/names.ts, RBAC has no
// wildcard, the CRD's sortedness rule covers every pair of stages the schema allows, and the
// aggregator's Deployment passes its own config loader. That the aggregator's RBAC is enough is proved
// on the lab (test/e2e/rollout.test.ts runs the aggregators with it).
import { describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { AGGREGATOR_ENV, loadAggregatorConfig } from '../../aggregator/config.js';
import { IN_CLUSTER } from '../../lib/process/config.js';
import { repoRoot } from '../../lib/process/paths.js';
import { AGGREGATOR_PORT, AGGREGATOR_SERVICE, AGGREGATOR_TLS_SECRET, API_GROUP, ROLLOUT_KIND, ROLLOUT_RESOURCE, SYSTEM_NAMESPACE } from '../../lib/names.js';
import { DEFAULT_SHARDS, SOURCE_PINNED_SHARDS } from '../../lib/routing/resource-classes.js';
import { parseShardKey } from '../../lib/routing/shard-hash.js';
import { SOURCE_STATUS_SHARDS } from '../../lib/mirror/workload-status.js';
import { containerPort, envWithMountedSecrets, manifestLoader, secretMountedAt, type Doc, type EnvVar } from '../helpers/manifests.js';

const SERVICE_ACCOUNT = 'cluster-bridge-aggregator';
const SYNCHRONIZER_ACCOUNT = 'cluster-bridge-synchronizer';
const dir = join(repoRoot(), 'manifests', 'destination');
const load = manifestLoader('destination');
const MIRROR_VERBS = ['get', 'list', 'watch', 'create', 'update', 'delete'];

describe('manifests/destination', () => {
  it('lists files that exist, in the system namespace', () => {
    const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect(kustomization.resources.sort()).toEqual([
      'bridgerollout-crd.yaml',
      'deployment.yaml',
      'namespace.yaml',
      'pdb.yaml',
      'rbac.yaml',
      'service.yaml',
      'serviceaccount.yaml',
      'synchronizer-rbac.yaml',
    ]);
    for (const file of kustomization.resources) expect(existsSync(join(dir, file))).toBe(true);
    expect(load('namespace.yaml')[0]!.metadata.name).toBe(SYSTEM_NAMESPACE);
    expect(load('serviceaccount.yaml')[0]!.metadata).toEqual({ name: SERVICE_ACCOUNT, namespace: SYSTEM_NAMESPACE });
  });

  it('defines the BridgeRollout CRD under the names the code uses', () => {
    const [crd] = load('bridgerollout-crd.yaml');
    expect(crd!.metadata.name).toBe(`${ROLLOUT_RESOURCE}.${API_GROUP}`);
    expect(crd!.spec.names).toMatchObject({ kind: ROLLOUT_KIND, plural: ROLLOUT_RESOURCE });
  });

  it('checks the order of every adjacent pair of stages the schema allows', () => {
    const spec = load('bridgerollout-crd.yaml')[0]!.spec.versions[0].schema.openAPIV3Schema.properties.spec;
    const sorted = (spec['x-kubernetes-validations'] as { rule: string }[]).find((v) => v.rule.includes('fraction <='))!.rule;
    const indices = JSON.parse(/^(\[[\d, ]+\])/.exec(sorted)![1]!) as number[];
    const maxStages = spec.properties.stages.maxItems as number;
    expect(indices).toEqual(Array.from({ length: maxStages - 1 }, (_, i) => i + 1));
  });

  it('grants no wildcard and, cluster-wide, only impersonation and reading namespaces', () => {
    const docs = load('rbac.yaml');
    const rules = (kind: string) => docs.filter((d) => d.kind === kind).flatMap((d) => d.rules as { resources: string[]; verbs: string[] }[]);
    for (const rule of [...rules('ClusterRole'), ...rules('Role')]) {
      expect(rule.verbs).not.toContain('*');
      expect(rule.resources).not.toContain('*');
    }
    // Cluster-wide it may impersonate (constrained only: docs/adr/0022) and read namespaces, never write.
    const clusterVerbs = rules('ClusterRole').flatMap((rule) => rule.verbs);
    expect(clusterVerbs.filter((verb) => !/^impersonate(-on)?:(serviceaccount|user-info)(:[a-z]+)?$/.test(verb)).sort()).toEqual(['get', 'list']);
    expect(clusterVerbs).not.toContain('impersonate');
    expect(clusterVerbs.some((verb) => verb.includes('node'))).toBe(false);
    expect(docs.filter((d) => d.kind === 'Role').map((d) => d.metadata.namespace)).toEqual([SYSTEM_NAMESPACE]);
    for (const binding of docs.filter((d) => d.kind.endsWith('Binding')))
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace: SYSTEM_NAMESPACE }]);
  });

  it('lets the aggregator act as callers on every type a hand-off moves by default, and on no other', () => {
    const docs = load('rbac.yaml');
    const rules = docs.find((d) => d.kind === 'ClusterRole')!.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    const actingOn = rules.filter((rule) => rule.verbs.some((verb) => verb.startsWith('impersonate-on:')));
    const covered = actingOn.flatMap((rule) => rule.apiGroups.flatMap((g) => rule.resources.filter((r) => !r.includes('/')).map((r) => (g ? `${r}.${g}` : r))));
    expect(covered.sort()).toEqual([...DEFAULT_SHARDS, ...SOURCE_STATUS_SHARDS].sort());
    for (const rule of actingOn)
      for (const mode of ['serviceaccount', 'user-info'])
        for (const verb of ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'])
          expect(rule.verbs).toContain(`impersonate-on:${mode}:${verb}`);
  });

  it('ships the legacy impersonation rights apart, outside the kustomization', () => {
    const [role] = manifestLoader('destination')('rbac-legacy-impersonation.yaml');
    expect(role!.rules.flatMap((r: { verbs: string[] }) => r.verbs)).toEqual(['impersonate', 'impersonate']);
  });

  describe('the aggregator', () => {
    const [deployment] = load('deployment.yaml');
    const pod = deployment!.spec.template.spec;
    const container = pod.containers[0];
    const env = container.env as EnvVar[];

    it('runs two locked-down replicas of the bridgectl image as its ServiceAccount, with probes and a PDB', () => {
      const [pdb] = load('pdb.yaml');
      expect(deployment!.spec.replicas).toBe(2);
      expect(deployment!.metadata.namespace).toBe(SYSTEM_NAMESPACE);
      expect(pod.serviceAccountName).toBe(SERVICE_ACCOUNT);
      expect(container.image).toBe(manifestLoader('source')('deployment.yaml')[0]!.spec.template.spec.containers[0].image);
      expect(container.args).toEqual(['aggregator', 'serve']);
      expect(pdb!.spec.minAvailable).toBe(1);
      expect(pdb!.spec.selector.matchLabels).toEqual(deployment!.spec.selector.matchLabels);
      expect(deployment!.spec.template.metadata.labels).toMatchObject(deployment!.spec.selector.matchLabels);
      expect(pod.topologySpreadConstraints[0].labelSelector.matchLabels).toEqual(deployment!.spec.selector.matchLabels);
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(0);
      expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'ops' });
      expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'ops' });
      expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    });

    it('sets only variables the aggregator reads, and its config loader accepts them', () => {
      const names = env.map((e) => e.name);
      expect(new Set(names).size).toBe(names.length);
      for (const name of names) expect(Object.values(AGGREGATOR_ENV)).toContain(name);
      const root = mkdtempSync(join(tmpdir(), 'aggregator-env-'));
      const secrets = {
        [AGGREGATOR_TLS_SECRET]: ['tls.crt', 'tls.key', 'ca.crt', 'client.crt', 'client.key'],
        'cluster-bridge-source-kubeconfig': ['kubeconfig'],
      };
      const config = loadAggregatorConfig(envWithMountedSecrets(root, pod, container, secrets));
      rmSync(root, { recursive: true, force: true });
      expect(config.destinationKubeconfig).toBe(IN_CLUSTER);
      expect(config.synchronizerUrl).toMatch(/^https:\/\//);
      expect(config.listenPort).toBe(containerPort(container, 'https'));
      expect(config.opsPort).toBe(containerPort(container, 'ops'));
    });

    it('mounts its TLS dir and the source kubeconfig from Secrets', () => {
      const value = (name: string) => env.find((e) => e.name === name)!.value!;
      expect(secretMountedAt(pod, container, `${value(AGGREGATOR_ENV.tlsDir)}/tls.crt`)).toBe(AGGREGATOR_TLS_SECRET);
      expect(secretMountedAt(pod, container, value(AGGREGATOR_ENV.sourceKubeconfig))).toBe('cluster-bridge-source-kubeconfig');
      for (const volume of pod.volumes as Doc[]) expect(volume.secret).toBeDefined();
    });

    it('is reached through a Service on 443 that targets its TLS port', () => {
      const [service] = load('service.yaml');
      expect(service!.metadata.name).toBe(AGGREGATOR_SERVICE);
      expect(service!.spec.selector).toEqual(deployment!.spec.selector.matchLabels);
      expect(service!.spec.ports).toEqual([{ name: 'https', port: 443, targetPort: 'https' }]);
      expect(containerPort(container, 'https')).toBe(AGGREGATOR_PORT);
    });
  });

  describe("the synchronizer's identity", () => {
    const docs = load('synchronizer-rbac.yaml');
    const of = (kind: string) => docs.filter((d) => d.kind === kind);

    it('may mirror every default shard and cluster RBAC, create namespaces and conflict Events, nothing cluster-wide beyond that', () => {
      const rules = of('ClusterRole').flatMap((d) => d.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[]);
      for (const rule of [...rules, ...of('Role').flatMap((d) => d.rules as { resources: string[]; verbs: string[] }[])]) {
        expect(rule.verbs).not.toContain('*');
        expect(rule.resources).not.toContain('*');
      }
      for (const shard of [...DEFAULT_SHARDS, ...SOURCE_PINNED_SHARDS]) {
        const { group, resource } = parseShardKey(shard);
        const rule = rules.find((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes('list'));
        expect(rule?.verbs).toEqual(MIRROR_VERBS);
      }
      const mirrored = new Set([...DEFAULT_SHARDS, ...SOURCE_PINNED_SHARDS].map((s) => parseShardKey(s).resource));
      for (const rule of rules) {
        const extra = rule.resources.filter((r) => !mirrored.has(r));
        // Beyond the shards: namespaces for the copies, and what RBAC requires to copy Roles and RoleBindings.
        if (extra.includes('namespaces')) expect(rule.verbs).toEqual(['get', 'create']);
        else if (extra.includes('events')) expect(rule).toEqual({ apiGroups: [''], resources: ['events'], verbs: ['create'] });
        else if (rule.verbs.some((v) => v === 'escalate' || v === 'bind')) {
          expect(rule.apiGroups).toEqual(['rbac.authorization.k8s.io']);
          expect(['escalate', 'bind']).toEqual(expect.arrayContaining(rule.verbs));
          expect(['roles', 'clusterroles']).toEqual(expect.arrayContaining(rule.resources));
        } else expect(extra).toEqual([]);
      }
    });

    it('writes cluster RBAC through a ClusterRole of its own: escalate and bind on clusterroles, nothing else beyond the mirror verbs', () => {
      const [role] = of('ClusterRole').filter((d) => d.metadata.name === 'cluster-bridge-synchronizer-cluster-rbac');
      expect(role!.rules).toEqual([
        { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles', 'clusterrolebindings'], verbs: MIRROR_VERBS },
        { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['escalate', 'bind'] },
      ]);
      const binding = of('ClusterRoleBinding').find((d) => d.metadata.name === role!.metadata.name);
      expect(binding!.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role!.metadata.name });
    });

    it('holds its Lease and reads the routing table in the system namespace, bound to its ServiceAccount', () => {
      expect(of('Role').map((d) => d.metadata.namespace)).toEqual([SYSTEM_NAMESPACE]);
      expect(of('Role')[0]!.rules).toContainEqual({ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] });
      for (const binding of docs.filter((d) => d.kind.endsWith('Binding')))
        expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: SYNCHRONIZER_ACCOUNT, namespace: SYSTEM_NAMESPACE }]);
    });

    // Issue 21: a kubernetes.io/service-account-token Secret gave it a token that never expires.
    it('holds no token that never expires, and may ask only for a new token of its own ServiceAccount', () => {
      expect(docs.filter((d) => d.kind === 'Secret' && d.type === 'kubernetes.io/service-account-token')).toEqual([]);
      expect(of('Role')[0]!.rules).toContainEqual({
        apiGroups: [''],
        resources: ['serviceaccounts/token'],
        resourceNames: [SYNCHRONIZER_ACCOUNT],
        verbs: ['create'],
      });
    });
  });
});
