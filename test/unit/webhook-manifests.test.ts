import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, parse } from 'yaml';
import { repoRoot } from '../../lib/process/paths.js';
import { webhookConfiguration } from '../../webhook/registration.js';
import { FENCE_NAME, FENCE_PROBE } from '../../aggregator/handoff/fencing.js';
import { fenceExemptExpression } from '../../aggregator/handoff/fence-exemptions.js';

const dir = join(repoRoot(), 'manifests', 'source');
const load = (file: string) => parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => d.toJS() as Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any

describe('manifests/source', () => {
  it('registers the webhook exactly as webhook/registration.ts builds it', () => {
    const [mwc] = load('mutating-webhook.yaml');
    expect(mwc).toEqual(
      webhookConfiguration({
        name: 'cluster-bridge-injector',
        clientConfig: { service: { name: 'cluster-bridge-webhook', namespace: 'cluster-bridge-system', path: '/mutate', port: 443 } },
      }),
    );
    const hook = mwc!.webhooks[0];
    expect(hook).toMatchObject({
      failurePolicy: 'Ignore',
      timeoutSeconds: 5,
      reinvocationPolicy: 'IfNeeded',
      sideEffects: 'None',
      matchPolicy: 'Equivalent',
      admissionReviewVersions: ['v1'],
    });
    expect(hook.objectSelector.matchExpressions).toContainEqual({ key: 'cluster-bridge.io/component', operator: 'DoesNotExist' });
    expect(hook.namespaceSelector.matchExpressions[0].values).toEqual(expect.arrayContaining(['kube-system', 'cluster-bridge-system']));
  });

  it('runs two locked-down replicas with probes, a PDB, and labels that keep them un-injected', () => {
    const [deployment] = load('deployment.yaml');
    const [pdb] = load('pdb.yaml');
    expect(deployment!.spec.replicas).toBe(2);
    expect(pdb!.spec.minAvailable).toBe(1);
    expect(pdb!.spec.selector.matchLabels).toEqual(deployment!.spec.selector.matchLabels);
    expect(deployment!.spec.template.metadata.labels['cluster-bridge.io/component']).toBe('webhook');
    const container = deployment!.spec.template.spec.containers[0];
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(deployment!.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
  });

  it('grants no wildcard and limits the webhook configuration to its own name', () => {
    const docs = load('rbac.yaml');
    const rules = docs.filter((d) => d.kind === 'ClusterRole' || d.kind === 'Role').flatMap((d) => d.rules);
    for (const rule of rules) {
      expect(rule.verbs).not.toContain('*');
      expect(rule.resources).not.toContain('*');
    }
    const mwcRule = rules.find((r) => r.resources.includes('mutatingwebhookconfigurations'));
    expect(mwcRule.resourceNames).toEqual(['cluster-bridge-injector']);
    expect(mwcRule.verbs).not.toContain('create');
  });

  // Issue 21: the webhook could get, list and watch every Secret of the cluster.
  it('lets the webhook read, change and delete only its own ConfigMap and Secret names', () => {
    const docs = load('rbac.yaml');
    const rules = docs.filter((d) => d.kind === 'ClusterRole' || d.kind === 'Role').flatMap((d) => d.rules) as {
      resources: string[];
      verbs: string[];
      resourceNames?: string[];
    }[];
    for (const rule of rules.filter((r) => r.resources.includes('secrets') || r.resources.includes('configmaps'))) {
      if (rule.resourceNames) {
        expect(['cluster-bridge-sidecar-tls', 'cluster-bridge-ca-bundle', 'kube-root-ca.crt', 'cluster-bridge-webhook-tls']).toEqual(
          expect.arrayContaining(rule.resourceNames),
        );
      } else expect(rule.verbs).toEqual(['create']); // create cannot be limited by name, and reads nothing
    }
  });

  it("gives the aggregator a service account of the bridge's namespace (the fence lets it through) and no wildcard", () => {
    const docs = load('aggregator-rbac.yaml');
    const account = docs.find((d) => d.kind === 'ServiceAccount')!;
    const binding = docs.find((d) => d.kind === 'ClusterRoleBinding')!;
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: account.metadata.name, namespace: account.metadata.namespace }]);
    expect(fenceExemptExpression(['services'], 'shard')).toContain(`system:serviceaccount:${account.metadata.namespace}:`);
    const rules = docs.find((d) => d.kind === 'ClusterRole')!.rules as { resources: string[]; verbs: string[]; resourceNames?: string[] }[];
    for (const rule of rules) {
      expect(rule.verbs).not.toContain('*');
      expect(rule.resources).not.toContain('*');
    }
    // Services: source-first creates (and their undo) and source-first updates, nothing else.
    expect(rules.find((r) => r.resources.includes('services'))!.verbs.sort()).toEqual(['create', 'delete', 'patch', 'update']);
    expect(rules.filter((r) => r.verbs.includes('patch') && !r.resources.includes('services')).map((r) => r.resourceNames)).toEqual([[FENCE_NAME]]);
  });

  it("lets the aggregator make the fence probe's dry-run create, in the bridge's namespace only", () => {
    const docs = load('aggregator-rbac.yaml');
    const account = docs.find((d) => d.kind === 'ServiceAccount')!;
    const role = docs.find((d) => d.kind === 'Role')!;
    const binding = docs.find((d) => d.kind === 'RoleBinding')!;
    expect(role.metadata.namespace).toBe(FENCE_PROBE.namespace);
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['configmaps'], verbs: ['create'] }]);
    expect(binding.metadata.namespace).toBe(FENCE_PROBE.namespace);
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: account.metadata.name, namespace: account.metadata.namespace }]);
    // The probe needs no impersonation: nothing in the manifest grants it.
    expect(JSON.stringify(docs)).not.toContain('impersonate');
  });

  it('lists every file in the kustomization', () => {
    const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect(kustomization.resources.sort()).toEqual([
      'aggregator-rbac.yaml',
      'deployment.yaml',
      'mutating-webhook.yaml',
      'namespace.yaml',
      'pdb.yaml',
      'rbac.yaml',
      'service.yaml',
      'serviceaccount.yaml',
    ]);
  });
});
