import { describe, expect, it } from '@jest/globals';
import { applyFence, FENCE_PROBE, fencePolicy, fenceVersion } from '../../aggregator/handoff/fencing.js';
import { FENCE_EXEMPTIONS, fenceExemptExpression } from '../../aggregator/handoff/fence-exemptions.js';
import { decideFenceSupport } from '../../aggregator/handoff/fence-support.js';
import type { KubeResponse, KubeRestClient } from '../../lib/kube/rest-client.js';
import { beginHandoff, emptyRoutingTable } from '../../lib/routing/routing-table.js';
import { withNamespaceTypes } from '../../lib/routing/namespace-shards.js';

interface Call {
  method: string;
  path: string;
  body?: unknown;
}

/** A source API server that accepts the fence policy and answers each probe with the next of `probes`. */
function fakeSource(probes: KubeResponse<{ message?: string }>[]) {
  const calls: Call[] = [];
  const request = async (method: string, path: string, body?: unknown) => {
    calls.push({ method, path, body });
    if (path.startsWith(`/api/v1/namespaces/${FENCE_PROBE.namespace}/configmaps`)) return probes.shift() ?? { status: 500, body: {} };
    return { status: 200, body: {} };
  };
  const source = { request, expect: request } as unknown as KubeRestClient;
  return { source, calls, probes: () => calls.filter((c) => c.method === 'POST') };
}

const moving = beginHandoff(emptyRoutingTable(), 'secrets', 'destination', new Date(0));
const refusedBy = (version: string) => ({ status: 403, body: { message: `admission refused: cluster-bridge-fence ${version} is enforced` } });

describe('applyFence', () => {
  it('waits until a dry-run probe carrying this policy version is refused by the policy', async () => {
    const version = fenceVersion(['secrets']);
    const fake = fakeSource([{ status: 201, body: {} }, { status: 201, body: {} }, refusedBy(version)]);
    await expect(applyFence(fake.source, moving, 'secrets')).resolves.toEqual(['secrets']);
    const probes = fake.probes();
    expect(probes).toHaveLength(3);
    expect(probes[0]!.path).toContain('dryRun=All');
    expect(probes[0]!.body).toMatchObject({ metadata: { name: FENCE_PROBE.name, annotations: { [FENCE_PROBE.annotation]: version } } });
  });

  // The bug: a probe the source refused for lack of rights (the shipped RBAC granted none for it) was
  // taken for "nothing to wait for", and writes were released before the fence was known to hold.
  it('fails the hand-off when the source refuses the probe itself (RBAC), rather than skip the wait', async () => {
    const fake = fakeSource([{ status: 403, body: { message: 'configmaps is forbidden: User "system:serviceaccount:x:y" cannot create resource' } }]);
    await expect(applyFence(fake.source, moving, 'secrets')).rejects.toThrow(/probing the source fence: HTTP 403/);
  });
});

describe('fencePolicy', () => {
  it('names the fenced shards and the version in its validations, and matches the probe with nothing fenced', () => {
    const { policy } = fencePolicy(['secrets', 'widgets.example.com']) as {
      policy: { spec: { matchConstraints: { resourceRules: { resources: string[] }[] }; validations: { expression: string; message?: string }[] } };
    };
    expect(policy.spec.matchConstraints.resourceRules.map((r) => r.resources[0])).toEqual(['secrets', 'widgets', 'configmaps']);
    expect(policy.spec.validations[0]!.expression).toContain("['secrets', 'widgets.example.com']");
    expect(policy.spec.validations[1]!.expression).toContain(`'${fenceVersion(['secrets', 'widgets.example.com'])}'`);
    expect(fenceVersion([])).not.toBe(fenceVersion(['secrets']));
    const inert = fencePolicy([]) as { policy: { spec: { matchConstraints: { resourceRules: { resources: string[] }[] } } } };
    expect(inert.policy.spec.matchConstraints.resourceRules.map((r) => r.resources[0])).toEqual(['configmaps']);
  });
});

describe('the fence covers subresources and exempts no whole namespace', () => {
  const policyOf = (shards: string[]) =>
    fencePolicy(shards) as {
      policy: { spec: { matchConstraints: { resourceRules: { resources: string[] }[] }; validations: { expression: string }[] } };
    };

  // The bug: rules named only `services`, so `kubectl patch --subresource=status` of a fenced Service went through.
  it('matches every subresource of each fenced shard', () => {
    const rules = policyOf(['services', 'deployments.apps']).policy.spec.matchConstraints.resourceRules;
    expect(rules[0]!.resources).toEqual(['services', 'services/*']);
    expect(rules[1]!.resources).toEqual(['deployments', 'deployments/*']);
  });

  // The bug: `username.startsWith('system:serviceaccount:kube-system:')` let any writer there fork a moved shard.
  it('names the kube-system controllers it exempts, each for what it must write', () => {
    const expression = policyOf(['configmaps', 'secrets', 'services']).policy.spec.validations[0]!.expression;
    expect(expression).not.toContain("startsWith('system:serviceaccount:kube-system:')");
    expect(expression).toContain("startsWith('system:serviceaccount:cluster-bridge-system:')");
    expect(expression).toContain("'system:serviceaccount:kube-system:namespace-controller'");
    expect(expression).toContain("'system:serviceaccount:kube-system:root-ca-cert-publisher'");
    // Exemptions for shards not fenced are left out, so the policy stays small.
    expect(expression).not.toContain('persistent-volume-binder');
    expect(fenceExemptExpression([], 'shard')).not.toContain('root-ca-cert-publisher');
  });

  it('gives every exemption a reason and no wildcard identity outside the bridge namespace', () => {
    for (const exemption of FENCE_EXEMPTIONS) {
      expect(exemption.why.length).toBeGreaterThan(20);
      for (const user of exemption.users) if (user.endsWith(':')) expect(user).toBe('system:serviceaccount:cluster-bridge-system:');
    }
  });
});

describe('decideFenceSupport', () => {
  it.each([
    [{ major: '1', minor: '28', gitVersion: 'v1.28.15' }, true, false, /Kubernetes v1\.28\.15; the fence needs .*1\.30 or later/],
    [{ major: '1', minor: '29+', gitVersion: 'v1.29.3-eks' }, true, false, /v1\.29\.3-eks/],
    [{ major: '1', minor: '31', gitVersion: 'v1.31.0' }, false, false, /does not serve admissionregistration\.k8s\.io\/v1 validatingadmissionpolicies/],
    [{ major: '1', minor: '36', gitVersion: 'v1.36.3' }, true, true, undefined],
  ])('%j serving the policy API %s: enforceable %s', (version, serves, enforceable, reason) => {
    const support = decideFenceSupport(version, serves);
    expect(support.enforceable).toBe(enforceable);
    if (!support.enforceable) expect(support.reason).toMatch(reason!);
  });
});

describe('the fence of namespace shards (docs/adr/0026)', () => {
  type Policy = { policy: { spec: { matchConstraints: { resourceRules: { resources: string[] }[] }; validations: { expression: string }[] } } };
  const carried = ['configmaps', 'secrets'];

  it('fences the carried types in the fenced namespaces only, beside the type shards fenced everywhere', () => {
    const { policy } = fencePolicy(['namespace/app', 'namespace/shop', 'services'], carried) as Policy;
    expect(policy.spec.matchConstraints.resourceRules.map((r) => r.resources[0])).toEqual(['services', 'configmaps', 'secrets', 'configmaps']);
    const expression = policy.spec.validations[0]!.expression;
    expect(expression).toContain("in ['services'] || (");
    expect(expression).toContain("in ['configmaps', 'secrets'] && request.namespace in ['app', 'shop'])");
    // The exemptions of the carried types come with them (the CA publisher writes kube-root-ca.crt in every namespace).
    expect(expression).toContain("'system:serviceaccount:kube-system:root-ca-cert-publisher'");
    expect(fenceVersion(['namespace/app'])).not.toBe(fenceVersion(['namespace/shop']));
  });

  it('matches no carried type while no namespace is fenced, and never names a namespace shard as a resource', () => {
    const { policy } = fencePolicy(['services'], carried) as Policy;
    expect(policy.spec.matchConstraints.resourceRules.map((r) => r.resources[0])).toEqual(['services', 'configmaps']);
    expect(policy.spec.validations[0]!.expression).not.toContain('&& request.namespace in [');
    const nsOnly = fencePolicy(['namespace/app'], carried) as Policy;
    expect(JSON.stringify(nsOnly.policy.spec.matchConstraints)).not.toContain('namespace/');
  });

  it('applies the table: a namespace moving to the destination is fenced from its hold on', async () => {
    const table = beginHandoff(withNamespaceTypes(emptyRoutingTable(), carried), 'namespace/app', 'destination', new Date(0));
    const fake = fakeSource([refusedBy(fenceVersion(['namespace/app']))]);
    await expect(applyFence(fake.source, table, 'namespace/app')).resolves.toEqual(['namespace/app']);
    const applied = fake.calls.find((c) => c.path.includes('validatingadmissionpolicies/'))!.body as Policy['policy'];
    expect(applied.spec.validations[0]!.expression).toContain("request.namespace in ['app']");
  });
});
