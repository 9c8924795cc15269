// The aggregator's impersonation decision against kube-apiserver's (k8s.io/apiserver v0.36
// filters/impersonation): the attributes checked, their order, the identity completed and the 403
// wording, for the legacy filter (before 1.36) and the constrained one (1.36). The authorizer is a
// small RBAC-like rule table that records every check.
import { describe, expect, it } from '@jest/globals';
import { checkIdentityHeaders } from '../../aggregator/identity/identity.js';
import { ImpersonationDecider, requestAttributes, type AuthzAttributes } from '../../aggregator/identity/impersonation.js';
import type { WantedUser } from '../../aggregator/identity/identity.js';
import type { UserInfo } from '../../aggregator/identity/identity.js';
import { parseRequestInfo } from '../../lib/routing/request-info.js';

type Rule = Partial<Pick<AuthzAttributes, 'verb' | 'group' | 'resource' | 'subresource' | 'name' | 'namespace'>>;

function rbac(rules: Rule[]) {
  const checks: string[] = [];
  const authorize = async (a: AuthzAttributes) => {
    const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
    checks.push(`${a.verb} ${a.group}/${resource} ${a.namespace ? a.namespace + '/' : ''}${a.name}`);
    const allowed = rules.some((r) =>
      (['verb', 'group', 'resource', 'subresource', 'name', 'namespace'] as const).every((k) => r[k] === undefined || r[k] === '*' || r[k] === a[k]),
    );
    return { allowed, reason: '' };
  };
  return { checks, authorize };
}

const tester: UserInfo = { username: 'system:serviceaccount:team:tester', groups: ['system:serviceaccounts', 'system:authenticated'], extra: {} };
const listSecrets = requestAttributes(tester, parseRequestInfo('GET', '/api/v1/namespaces/lab-apps/secrets'), {});

function wanted(name: string, more: Partial<WantedUser> = {}): WantedUser {
  return { name, uid: '', groups: [], extra: {}, groupsSpecified: (more.groups ?? []).length > 0, ...more };
}

const GC = 'system:serviceaccount:kube-system:generic-garbage-collector';

describe('impersonating a service account (the finding: allowed only users, it listed Secrets as the garbage collector)', () => {
  it('legacy: checked as serviceaccounts in its namespace, refused with the API server words', async () => {
    const { authorize, checks } = rbac([{ verb: 'impersonate', resource: 'users' }]);
    const outcome = await new ImpersonationDecider(authorize).decide('legacy', wanted(GC), listSecrets);
    expect(checks).toEqual(['impersonate /serviceaccounts kube-system/generic-garbage-collector']);
    expect(outcome).toEqual({
      ok: false,
      forbidden: {
        message:
          'serviceaccounts "generic-garbage-collector" is forbidden: User "system:serviceaccount:team:tester" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "kube-system"',
        details: { group: '', kind: 'serviceaccounts', name: 'generic-garbage-collector' },
      },
    });
  });

  it('constrained: the serviceaccount mode is refused on the request itself first, and that is the answer', async () => {
    const { authorize, checks } = rbac([{ verb: 'impersonate', resource: 'users' }]);
    const outcome = await new ImpersonationDecider(authorize).decide('constrained', wanted(GC), listSecrets);
    expect(checks).toEqual(['impersonate-on:serviceaccount:list /secrets lab-apps/', 'impersonate /serviceaccounts kube-system/generic-garbage-collector']);
    expect(outcome).toEqual({
      ok: false,
      forbidden: {
        message:
          'secrets is forbidden: User "system:serviceaccount:team:tester" cannot impersonate-on:serviceaccount:list resource "secrets" in API group "" in the namespace "lab-apps"',
        details: { group: '', kind: 'secrets', name: '' },
      },
    });
  });

  it('allowed, the identity gets the service account groups and system:authenticated', async () => {
    const { authorize } = rbac([{ verb: 'impersonate', resource: 'serviceaccounts', namespace: 'kube-system' }]);
    for (const flavour of ['legacy', 'constrained'] as const) {
      const outcome = await new ImpersonationDecider(authorize).decide(flavour, wanted(GC), listSecrets);
      expect(outcome).toEqual({
        ok: true,
        user: { username: GC, uid: undefined, groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'], extra: {} },
      });
    }
  });

  it('constrained: impersonate-on:serviceaccount:list plus impersonate:serviceaccount (authentication.k8s.io) is enough', async () => {
    const { authorize, checks } = rbac([
      { verb: 'impersonate-on:serviceaccount:list', resource: 'secrets' },
      { verb: 'impersonate:serviceaccount', group: 'authentication.k8s.io', resource: 'serviceaccounts' },
    ]);
    const outcome = await new ImpersonationDecider(authorize).decide('constrained', wanted(GC), listSecrets);
    expect(outcome.ok).toBe(true);
    expect(checks).toEqual([
      'impersonate-on:serviceaccount:list /secrets lab-apps/',
      'impersonate:serviceaccount authentication.k8s.io/serviceaccounts kube-system/generic-garbage-collector',
    ]);
  });
});

describe('each impersonated attribute is its own check, in the release order', () => {
  const everything = wanted('alice', { uid: 'u1', groups: ['g1', 'g2'], extra: { 'example.com/k': ['v1'] } });

  it('legacy: user, each group, each extra, then the uid', async () => {
    const { authorize, checks } = rbac([{ verb: 'impersonate' }]);
    const outcome = await new ImpersonationDecider(authorize).decide('legacy', everything, listSecrets);
    expect(checks).toEqual([
      'impersonate /users alice',
      'impersonate /groups g1',
      'impersonate /groups g2',
      'impersonate authentication.k8s.io/userextras/example.com/k v1',
      'impersonate authentication.k8s.io/uids u1',
    ]);
    expect(outcome).toEqual({
      ok: true,
      user: { username: 'alice', uid: 'u1', groups: ['g1', 'g2', 'system:authenticated'], extra: { 'example.com/k': ['v1'] } },
    });
  });

  it('constrained: user-info first (impersonate-on, then user, uid, groups, extra), then legacy', async () => {
    const { authorize, checks } = rbac([{ verb: 'impersonate' }]);
    const outcome = await new ImpersonationDecider(authorize).decide('constrained', everything, listSecrets);
    expect(checks).toEqual([
      'impersonate-on:user-info:list /secrets lab-apps/',
      'impersonate /users alice',
      'impersonate authentication.k8s.io/uids u1',
      'impersonate /groups g1',
      'impersonate /groups g2',
      'impersonate authentication.k8s.io/userextras/example.com/k v1',
    ]);
    expect(outcome.ok).toBe(true);
  });

  it('a refused group is the answer, worded for groups', async () => {
    const { authorize } = rbac([
      { verb: 'impersonate', resource: 'users' },
      { verb: 'impersonate', resource: 'groups', name: 'g1' },
    ]);
    const outcome = await new ImpersonationDecider(authorize).decide('legacy', everything, listSecrets);
    expect(outcome).toMatchObject({
      ok: false,
      forbidden: {
        message: 'groups "g2" is forbidden: User "system:serviceaccount:team:tester" cannot impersonate resource "groups" in API group "" at the cluster scope',
      },
    });
  });

  it('a refused extra names its key as the subresource', async () => {
    const { authorize } = rbac([
      { verb: 'impersonate', resource: 'users' },
      { verb: 'impersonate', resource: 'groups' },
    ]);
    const outcome = await new ImpersonationDecider(authorize).decide('legacy', everything, listSecrets);
    expect(outcome).toMatchObject({
      ok: false,
      forbidden: {
        message:
          'userextras.authentication.k8s.io "v1" is forbidden: User "system:serviceaccount:team:tester" cannot impersonate resource "userextras/example.com/k" in API group "authentication.k8s.io" at the cluster scope',
        details: { group: 'authentication.k8s.io', kind: 'userextras', name: 'v1' },
      },
    });
  });

  it('constrained user-info refuses system:masters itself, and legacy rights still decide', async () => {
    const masters = wanted('alice', { groups: ['system:masters'] });
    const onlyUserInfo = rbac([{ verb: 'impersonate-on:user-info:list' }, { verb: 'impersonate:user-info' }]);
    expect(await new ImpersonationDecider(onlyUserInfo.authorize).decide('constrained', masters, listSecrets)).toMatchObject({
      ok: false,
      forbidden: {
        message:
          'groups.authentication.k8s.io "system:masters" is forbidden: User "system:serviceaccount:team:tester" cannot impersonate:user-info resource "groups" in API group "authentication.k8s.io" at the cluster scope: impersonating the system:masters group is not allowed',
      },
    });
    const legacy = rbac([{ verb: 'impersonate' }]);
    expect((await new ImpersonationDecider(legacy.authorize).decide('constrained', masters, listSecrets)).ok).toBe(true);
  });

  it('anonymous keeps system:unauthenticated and gets no system:authenticated', async () => {
    const { authorize } = rbac([{ verb: 'impersonate' }]);
    const outcome = await new ImpersonationDecider(authorize).decide('legacy', wanted('system:anonymous'), listSecrets);
    expect(outcome).toMatchObject({ ok: true, user: { groups: ['system:unauthenticated'] } });
  });
});

describe('nodes (constrained only)', () => {
  it('a node is checked as nodes, and gets system:nodes', async () => {
    const { authorize, checks } = rbac([{ verb: 'impersonate-on:arbitrary-node:list' }, { verb: 'impersonate:arbitrary-node', resource: 'nodes' }]);
    const outcome = await new ImpersonationDecider(authorize).decide('constrained', wanted('system:node:n1'), listSecrets);
    expect(checks).toEqual(['impersonate-on:arbitrary-node:list /secrets lab-apps/', 'impersonate:arbitrary-node authentication.k8s.io/nodes n1']);
    expect(outcome).toMatchObject({ ok: true, user: { username: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] } });
  });

  it('the associated node of a service account is checked for every node with the extra keys only', async () => {
    const onNode: UserInfo = { ...tester, extra: { 'authentication.kubernetes.io/node-name': ['n1'], 'authentication.kubernetes.io/pod-name': ['p'] } };
    const seen: AuthzAttributes[] = [];
    const decider = new ImpersonationDecider(async (a) => (seen.push(a), { allowed: a.verb.includes('associated-node'), reason: '' }));
    const outcome = await decider.decide('constrained', wanted('system:node:n1'), { ...listSecrets, user: onNode });
    expect(outcome.ok).toBe(true);
    expect(seen.map((a) => [a.verb, a.name, a.user.extra])).toEqual([
      [
        'impersonate-on:associated-node:list',
        '',
        { 'authentication.kubernetes.io/associated-node-keys': ['authentication.kubernetes.io/node-name', 'authentication.kubernetes.io/pod-name'] },
      ],
      [
        'impersonate:associated-node',
        '*',
        { 'authentication.kubernetes.io/associated-node-keys': ['authentication.kubernetes.io/node-name', 'authentication.kubernetes.io/pod-name'] },
      ],
    ]);
  });
});

describe('the last mode that worked is tried first (impersonationModesTracker), which changes only the wording of a refusal', () => {
  it('after a legacy success, a refusal names the legacy check', async () => {
    const { authorize } = rbac([{ verb: 'impersonate', resource: 'users', name: 'alice' }]);
    const decider = new ImpersonationDecider(authorize);
    expect((await decider.decide('constrained', wanted('alice'), listSecrets)).ok).toBe(true);
    expect(await decider.decide('constrained', wanted('bob'), listSecrets)).toMatchObject({
      ok: false,
      forbidden: {
        message: 'users "bob" is forbidden: User "system:serviceaccount:team:tester" cannot impersonate resource "users" in API group "" at the cluster scope',
      },
    });
    expect(await new ImpersonationDecider(authorize).decide('constrained', wanted('bob'), listSecrets)).toMatchObject({
      ok: false,
      forbidden: { message: expect.stringContaining('cannot impersonate-on:user-info:list resource "secrets"') },
    });
  });
});

describe('the Impersonate-* headers, read as http.Header.Get reads them', () => {
  const peer = { sidecar: false };
  it.each([
    [['Impersonate-User', 'a', 'Impersonate-User', 'b'], { name: 'a' }],
    [['Impersonate-User', '', 'Impersonate-User', 'b'], undefined],
    [['Impersonate-User', ''], undefined],
    [['Impersonate-Group', 'g'], 'malformed'],
    [['Impersonate-User', '', 'Impersonate-Uid', 'u'], 'malformed'],
    [['Impersonate-Extra-X', 'v'], 'malformed'],
    [['Impersonate-User', 'a', 'Impersonate-Extra-Example.com%2Fk', 'v', 'impersonate-extra-example.com%2fk', 'w'], { extra: { 'example.com/k': ['v', 'w'] } }],
    [['Impersonate-User', 'a', 'Impersonate-Extra-bad%zz', 'v'], { extra: { 'bad%zz': ['v'] } }],
    [['Impersonate-User', 'a', 'Impersonate-Group', ''], { groups: [''], groupsSpecified: true }],
  ])('%j', (headers, expected) => {
    const verdict = checkIdentityHeaders(headers, peer);
    expect(verdict.ok).toBe(true);
    const impersonation = (verdict as { impersonation: unknown }).impersonation;
    if (expected === undefined || expected === 'malformed') expect(impersonation).toBe(expected);
    else expect(impersonation).toMatchObject(expected as object);
  });
});
