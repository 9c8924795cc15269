// manifests/destination: the files kustomize applies exist, names match lib/names.ts, RBAC has no
// wildcard, and the CRD's sortedness rule covers every pair of stages the schema allows. That the RBAC
// is enough is proved on the lab (test/e2e/rollout.test.ts runs the aggregators with it).
import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { repoRoot } from '../../lib/paths.js';
import { API_GROUP, ROLLOUT_KIND, ROLLOUT_RESOURCE, SYSTEM_NAMESPACE } from '../../lib/names.js';

const SERVICE_ACCOUNT = 'cluster-bridge-aggregator';
const dir = join(repoRoot(), 'manifests', 'destination');
const load = (file: string) => parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => d.toJS() as Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any

describe('manifests/destination', () => {
  it('lists files that exist, in the system namespace', () => {
    const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect(kustomization.resources.sort()).toEqual(['bridgerollout-crd.yaml', 'namespace.yaml', 'rbac.yaml', 'serviceaccount.yaml']);
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
    // Cluster-wide it may impersonate and read namespaces, never write.
    for (const rule of rules('ClusterRole')) expect(rule.verbs.every((verb) => ['impersonate', 'get', 'list'].includes(verb))).toBe(true);
    expect(docs.filter((d) => d.kind === 'Role').map((d) => d.metadata.namespace)).toEqual([SYSTEM_NAMESPACE]);
    for (const binding of docs.filter((d) => d.kind.endsWith('Binding')))
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace: SYSTEM_NAMESPACE }]);
  });
});
