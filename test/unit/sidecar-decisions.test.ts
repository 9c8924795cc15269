import { describe, expect, it } from '@jest/globals';
import { clientResponseHeaders, scanRequestHead, upstreamRequestHeaders } from '../../lib/proxy/headers.js';
import { allToUpstream } from '../../sidecar/upstream-selector.js';
import { CLOSED_BREAKER, isProbeDue, recordConnectFailure, recordConnectSuccess, type BreakerPolicy } from '../../sidecar/circuit-breaker.js';
import { decideAttempt, type AttemptInput } from '../../sidecar/attempt-decision.js';
import { isLongRunning } from '../../sidecar/in-flight.js';

const identity = { pod: 'p', namespace: 'ns', node: 'n', hop: 'sidecar' };

describe('upstreamRequestHeaders', () => {
  it.each([
    [
      'keeps ordinary headers in order and case',
      ['Accept', 'a', 'User-Agent', 'kubectl', 'authorization', 'Bearer t'],
      ['Accept', 'a', 'User-Agent', 'kubectl', 'authorization', 'Bearer t'],
    ],
    ['keeps repeated headers', ['X-A', '1', 'x-a', '2'], ['X-A', '1', 'x-a', '2']],
    [
      'drops hop-by-hop headers',
      ['Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'Proxy-Authorization', 'x', 'TE', 'trailers', 'Upgrade', 'h2c', 'Accept', 'a'],
      ['Accept', 'a'],
    ],
    ['drops headers named in Connection', ['Connection', 'close, X-Hop', 'X-Hop', '1', 'Accept', 'a'], ['Accept', 'a']],
    [
      'drops every X-Bridge-* and X-Remote-* header',
      ['X-Bridge-Pod', 'e', 'X-BRIDGE-HOP', 'e', 'X-Remote-User', 'r', 'x-remote-extra-a', 'b', 'Accept', 'a'],
      ['Accept', 'a'],
    ],
    [
      'passes Impersonate-* through for the aggregator or API server to authorize',
      ['Impersonate-User', 'u', 'impersonate-extra-x', 'y', 'Accept', 'a'],
      ['Impersonate-User', 'u', 'impersonate-extra-x', 'y', 'Accept', 'a'],
    ],
    [
      'keeps look-alikes that are not identity headers',
      ['X-Bridged', '1', 'Impersonated', '2', 'X-Remotely', '3'],
      ['X-Bridged', '1', 'Impersonated', '2', 'X-Remotely', '3'],
    ],
    [
      'keeps Content-Length and Transfer-Encoding (body framing)',
      ['Content-Length', '3', 'Transfer-Encoding', 'chunked'],
      ['Content-Length', '3', 'Transfer-Encoding', 'chunked'],
    ],
  ])('%s', (_name, input, kept) => {
    expect(upstreamRequestHeaders(input, identity)).toEqual([
      ...kept,
      'X-Bridge-Pod',
      'p',
      'X-Bridge-Namespace',
      'ns',
      'X-Bridge-Node',
      'n',
      'X-Bridge-Hop',
      'sidecar',
    ]);
  });

  it('re-adds Connection and Upgrade for an upgrade request', () => {
    expect(upstreamRequestHeaders(['Connection', 'Upgrade', 'Upgrade', 'SPDY/3.1'], { hop: 'sidecar' }, 'SPDY/3.1')).toEqual([
      'Connection',
      'Upgrade',
      'Upgrade',
      'SPDY/3.1',
      'X-Bridge-Hop',
      'sidecar',
    ]);
  });

  it('omits identity headers it has no value for', () => {
    expect(upstreamRequestHeaders([], { hop: 'sidecar' })).toEqual(['X-Bridge-Hop', 'sidecar']);
  });
});

describe('clientResponseHeaders and scanRequestHead', () => {
  it('drops hop-by-hop and framing headers from responses only', () => {
    expect(
      clientResponseHeaders(['Content-Type', 'a', 'Transfer-Encoding', 'chunked', 'Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'Audit-Id', 'x']),
    ).toEqual(['Content-Type', 'a', 'Audit-Id', 'x']);
  });
  it.each([
    [['Host', 'h'], { hasHost: true, hasBody: false }],
    [['Content-Length', '0'], { hasHost: false, hasBody: false }],
    [['content-length', '12'], { hasHost: false, hasBody: true }],
    [['Transfer-Encoding', 'chunked', 'HOST', 'x'], { hasHost: true, hasBody: true }],
  ])('scans %j', (raw, expected) => expect(scanRequestHead(raw)).toEqual(expected));
});

describe('decideAttempt', () => {
  const up = allToUpstream.select({ method: 'GET', url: '/' });
  const local = { target: 'local' as const, reason: 'source-owned-shard' as const };
  const base: AttemptInput = { choice: up, failMode: 'local', breakerOpen: false, hasLocalApiserver: true };
  it.each<[string, Partial<AttemptInput>, string, string]>([
    ['healthy upstream', {}, 'upstream', 'selected-upstream'],
    ['breaker open, mode local', { breakerOpen: true }, 'local', 'breaker-open-fallback-local'],
    ['breaker open, mode closed', { breakerOpen: true, failMode: 'closed' }, 'reject', 'breaker-open-fail-closed'],
    ['breaker open, mode local without a local API server', { breakerOpen: true, hasLocalApiserver: false }, 'reject', 'no-local-apiserver'],
    ['connect failed, mode local', { connectFailed: 'upstream' }, 'local', 'connect-failed-fallback-local'],
    ['connect failed, mode closed', { connectFailed: 'upstream', failMode: 'closed' }, 'reject', 'connect-failed-fail-closed'],
    ['connect failed, a moved shard the source does not serve', { connectFailed: 'upstream', sourceServes: () => false }, 'reject', 'moved-shard-unavailable'],
    ['breaker open, a moved shard the source does not serve', { breakerOpen: true, sourceServes: () => false }, 'reject', 'moved-shard-unavailable'],
    ['connect failed, what the source serves', { connectFailed: 'upstream', sourceServes: () => true }, 'local', 'connect-failed-fallback-local'],
    [
      'healthy upstream: the source is not asked',
      {
        sourceServes: () => {
          throw new Error('asked');
        },
      },
      'upstream',
      'selected-upstream',
    ],
    ['local also failed to connect', { connectFailed: 'local' }, 'reject', 'local-unreachable'],
    ['selector chose local', { choice: local }, 'local', 'selected-local'],
    ['selector chose local, breaker open does not matter', { choice: local, breakerOpen: true, failMode: 'closed' }, 'local', 'selected-local'],
    ['selector chose local without one', { choice: local, hasLocalApiserver: false }, 'reject', 'no-local-apiserver'],
  ])('%s', (_name, input, target, reason) => {
    expect(decideAttempt({ ...base, ...input })).toEqual({ target, reason });
  });
});

describe('circuit breaker', () => {
  const policy: BreakerPolicy = { failureThreshold: 3, baseOpenMs: 100, maxOpenMs: 350 };
  it('opens after the threshold, backs off while probes fail, closes on success', () => {
    let s = CLOSED_BREAKER;
    s = recordConnectFailure(s, 0, policy);
    s = recordConnectFailure(s, 0, policy);
    expect(s.open).toBe(false);
    s = recordConnectFailure(s, 1000, policy);
    expect(s).toMatchObject({ open: true, openMs: 100, retryAt: 1100 });
    expect(isProbeDue(s, 1099)).toBe(false);
    expect(isProbeDue(s, 1100)).toBe(true);
    // Each probe fails when it is due.
    const backoffs = [200, 350, 350].map((expected) => {
      s = recordConnectFailure(s, s.retryAt, policy);
      return [s.openMs, expected];
    });
    for (const [actual, expected] of backoffs) expect(actual).toBe(expected);
    expect(recordConnectSuccess(s)).toBe(CLOSED_BREAKER);
  });
  it('does not back off for requests that were already connecting when it opened', () => {
    let s = CLOSED_BREAKER;
    for (let i = 0; i < 3; i++) s = recordConnectFailure(s, 1000, policy);
    expect(s).toMatchObject({ open: true, openMs: 100, retryAt: 1100 });
    for (let i = 0; i < 10; i++) s = recordConnectFailure(s, 1001 + i, policy);
    expect(s).toMatchObject({ open: true, openMs: 100, retryAt: 1100 });
    s = recordConnectFailure(s, 1100, policy);
    expect(s).toMatchObject({ open: true, openMs: 200, retryAt: 1300 });
  });
  it('a success between failures resets the count', () => {
    let s = recordConnectFailure(recordConnectFailure(CLOSED_BREAKER, 0, policy), 0, policy);
    s = recordConnectSuccess(s);
    s = recordConnectFailure(s, 0, policy);
    expect(s.open).toBe(false);
  });
});

describe('isLongRunning', () => {
  it.each([
    ['/api/v1/namespaces/a/configmaps?watch=true', true],
    ['/api/v1/configmaps?resourceVersion=1&watch=1', true],
    ['/api/v1/watch/namespaces/a/pods', true],
    ['/apis/apps/v1/watch/deployments', true],
    ['/api/v1/namespaces/a/pods/p/log?follow=true', true],
    ['/api/v1/namespaces/a/configmaps?watch=false', false],
    ['/api/v1/namespaces/watch/configmaps', false],
    ['/api/v1/namespaces/a/pods/p/log', false],
  ])('%s -> %s', (url, expected) => expect(isLongRunning(url)).toBe(expected));
});
