// What authenticating a destination-bound request costs the source: TokenReviews and
// SubjectAccessReviews cached both ways, a review budget that a flood of unknown tokens runs out of
// before real callers do, and no anonymous identity where the source refuses requests without
// credentials. The source is a fake that counts calls (the e2e suite runs the real one).
import { describe, expect, it } from '@jest/globals';
import { SourceAuthenticator } from '../../aggregator/identity/source-authenticator.js';
import { ReviewBudget } from '../../aggregator/identity/review-budget.js';
import type { KubeRestClient } from '../../lib/kube/rest-client.js';
import { TtlCache } from '../../lib/ttl-cache.js';
import { parseRequestInfo } from '../../lib/routing/request-info.js';

function fakeSource(validTokens: Record<string, string>, allowed: (spec: { resourceAttributes?: { verb: string; resource: string } }) => boolean) {
  const calls: string[] = [];
  const rest = {
    async expect(_method: string, path: string, _ok: number[], body: { spec: Record<string, unknown> }) {
      calls.push(path);
      if (path.endsWith('/tokenreviews')) {
        const username = validTokens[body.spec.token as string];
        return {
          status: 201,
          body: { status: username ? { authenticated: true, user: { username, groups: ['system:authenticated'] } } : { authenticated: false } },
        };
      }
      return { status: 201, body: { status: { allowed: allowed(body.spec as never) } } };
    },
    async request(_method: string, path: string) {
      calls.push(path);
      return { status: 400, body: { message: 'requested &user.DefaultInfo{} without impersonating a user name' } };
    },
  };
  return { rest: rest as unknown as KubeRestClient, calls };
}

describe('TokenReviews', () => {
  it('a refused token is cached too: the same bad token costs one review', async () => {
    const { rest, calls } = fakeSource({ good: 'alice' }, () => true);
    const auth = new SourceAuthenticator({ rest, anonymous: async () => 401 });
    for (let i = 0; i < 5; i++) expect(await auth.authenticate('bad', 'peer', '/')).toEqual({ ok: false, why: 'unauthenticated' });
    for (let i = 0; i < 5; i++) expect(await auth.authenticate('good', 'peer', '/')).toMatchObject({ ok: true, user: { username: 'alice' } });
    expect(calls).toEqual(['/apis/authentication.k8s.io/v1/tokenreviews', '/apis/authentication.k8s.io/v1/tokenreviews']);
  });

  it('concurrent requests with one new token share one review', async () => {
    const { rest, calls } = fakeSource({ good: 'alice' }, () => true);
    const auth = new SourceAuthenticator({ rest, anonymous: async () => 401 });
    await Promise.all(Array.from({ length: 20 }, () => auth.authenticate('good', 'peer', '/')));
    expect(calls).toHaveLength(1);
  });

  it('a flood of random tokens from one peer runs out of budget; a known token of another peer still passes', async () => {
    const { rest, calls } = fakeSource({ good: 'alice' }, () => true);
    let now = 0;
    const budget = new ReviewBudget({ perPeerPerSecond: 1, perPeerBurst: 3, globalPerSecond: 100, globalBurst: 100, maxPeers: 10 }, () => now);
    const auth = new SourceAuthenticator({ rest, anonymous: async () => 401, budget });
    expect((await auth.authenticate('good', 'pod', '/')).ok).toBe(true);
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(await auth.authenticate(`random-${i}`, 'attacker', '/'));
    expect(answers.filter((a) => !a.ok && a.why === 'throttled')).toHaveLength(7);
    expect(calls).toHaveLength(4);
    expect((await auth.authenticate('good', 'pod', '/')).ok).toBe(true);
    now += 1000;
    expect(await auth.authenticate('random-x', 'attacker', '/')).toEqual({ ok: false, why: 'unauthenticated' });
  });

  it('the global budget holds however many peers take part', async () => {
    const { rest } = fakeSource({}, () => true);
    const budget = new ReviewBudget({ perPeerPerSecond: 10, perPeerBurst: 10, globalPerSecond: 1, globalBurst: 5, maxPeers: 1000 }, () => 0);
    const auth = new SourceAuthenticator({ rest, anonymous: async () => 401, budget });
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => auth.authenticate(`t${i}`, `peer-${i}`, '/')));
    expect(answers.filter((a) => !a.ok && a.why === 'throttled')).toHaveLength(45);
  });
});

describe('requests without credentials', () => {
  it('are anonymous only where the source authenticates them as anonymous (asked once per path)', async () => {
    const { rest } = fakeSource({}, () => true);
    const probes: string[] = [];
    const auth = new SourceAuthenticator({ rest, anonymous: async (path) => (probes.push(path), path === '/healthz' ? 200 : 401) });
    expect(await auth.authenticate(undefined, 'p', '/api/v1/namespaces/a/secrets')).toEqual({ ok: false, why: 'unauthenticated' });
    expect(await auth.authenticate(undefined, 'p', '/api/v1/namespaces/a/secrets')).toEqual({ ok: false, why: 'unauthenticated' });
    expect(await auth.authenticate(undefined, 'p', '/healthz')).toMatchObject({
      ok: true,
      user: { username: 'system:anonymous', groups: ['system:unauthenticated'] },
    });
    expect(probes).toEqual(['/api/v1/namespaces/a/secrets', '/healthz']);
  });
});

describe('SubjectAccessReviews', () => {
  it('one per distinct check, cached allowed and denied: many Impersonate-Group headers cost each group once', async () => {
    const { rest, calls } = fakeSource({}, (spec) => spec.resourceAttributes?.resource !== 'uids');
    const auth = new SourceAuthenticator({ rest, anonymous: async () => 401 });
    const requestor = { username: 'alice', groups: ['system:authenticated'], extra: {} };
    const wanted = { name: 'bob', uid: '', groups: ['g1', 'g2', 'g3'], extra: {}, groupsSpecified: true };
    const info = parseRequestInfo('GET', '/api/v1/namespaces/a/secrets');
    for (let i = 0; i < 3; i++) expect((await auth.impersonate(requestor, wanted, info)).ok).toBe(true);
    const sars = calls.filter((c) => c.endsWith('subjectaccessreviews'));
    // constrained user-info mode: impersonate-on:user-info:list, users/bob, groups g1..g3; then all cached.
    expect(sars.length).toBe(5);
    const denied = { ...wanted, uid: 'u1' };
    for (let i = 0; i < 3; i++) expect((await auth.impersonate(requestor, denied, info)).ok).toBe(false);
    // New: user-info's uids/u1 (denied), then legacy's users/bob and uids/u1; the refusals are cached too.
    expect(calls.filter((c) => c.endsWith('subjectaccessreviews')).length).toBe(5 + 3);
    // The flavour was asked once.
    expect(calls.filter((c) => c === '/api')).toHaveLength(1);
  });
});

describe('TtlCache', () => {
  it('is bounded (oldest out first) and forgets after the TTL, per value', () => {
    let now = 0;
    const cache = new TtlCache<string>(
      2,
      (v) => (v === 'short' ? 10 : 100),
      () => now,
    );
    cache.set('a', 'long');
    cache.set('b', 'short');
    cache.set('c', 'long');
    expect([cache.get('a'), cache.get('b'), cache.get('c'), cache.size]).toEqual([undefined, 'short', 'long', 2]);
    now = 50;
    expect([cache.get('b'), cache.get('c')]).toEqual([undefined, 'long']);
  });
});
