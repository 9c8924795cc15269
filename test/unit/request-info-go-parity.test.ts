// RequestInfo as kube-apiserver computes it from Go's URL.Path (decoded before it is split) and
// URL.Query() (split on & only, + is a space, a pair with ; or a malformed escape dropped). The finding:
// `/api/v1/namespaces/lab-apps%2Fsecrets/configmaps` is the Secret `configmaps` to the API server, and
// was routed as the configmaps collection.
import { describe, expect, it } from '@jest/globals';
import { goParseQuery, goSplitPath, goUnescape, parseGoRequestTarget } from '../../lib/routing/go-url.js';
import { parseRequestInfo } from '../../lib/routing/request-info.js';

describe('paths are decoded before they are split', () => {
  it.each([
    ['/api/v1/namespaces/lab-apps%2Fsecrets/configmaps', { namespace: 'lab-apps', resource: 'secrets', name: 'configmaps', verb: 'get' }],
    ['/api/v1/namespaces/lab-apps/config%6Daps', { namespace: 'lab-apps', resource: 'configmaps', name: '', verb: 'list' }],
    ['/api%2Fv1/namespaces/a/secrets', { apiVersion: 'v1', namespace: 'a', resource: 'secrets' }],
    ['/api/v1/namespaces/a/configmaps/%2E%2E/secrets', { resource: 'configmaps', name: '..', subresource: 'secrets' }],
    // An empty segment stays a segment: the namespace is empty and the resource is configmaps.
    ['/api/v1/namespaces//configmaps', { namespace: '', resource: 'configmaps', verb: 'list' }],
    ['//api/v1/namespaces/a/secrets//', { namespace: 'a', resource: 'secrets', verb: 'list' }],
    ['/api/v1/namespaces/a/configmaps/c%20d', { name: 'c d' }],
    ['/api/v1/namespaces/a/configmaps/c+d', { name: 'c+d' }],
  ])('%s', (url, expected) => {
    expect(parseRequestInfo('GET', url)).toMatchObject({ isResourceRequest: true, ...expected });
  });

  it('a malformed escape is what Go refuses (400): marked, never a resource request', () => {
    for (const url of ['/api/v1/namespaces/a/secrets/%zz', '/api/v1/namespaces/a%2/secrets', '/api/v1/%']) {
      expect(parseRequestInfo('GET', url)).toMatchObject({ isResourceRequest: false, malformed: true });
    }
  });

  it('the absolute form is refused the same way', () => {
    expect(parseRequestInfo('GET', 'http://x/api/v1/namespaces/a/secrets')).toMatchObject({ isResourceRequest: false, malformed: true });
  });

  it('the method is matched as Go matches it (case-sensitive)', () => {
    expect(parseRequestInfo('get', '/api/v1/namespaces/a/secrets/s').verb).toBe('');
  });
});

describe('the query, as URL.Query() reads it', () => {
  it.each([
    ['?watch=1;x=y', 'list'],
    ['?watch=1&x=y', 'watch'],
    ['?watch=%zz', 'list'],
    ['?watch=false', 'list'],
    ['?watch', 'watch'],
    ['?watch=0&watch=1', 'list'],
  ])('%s -> %s', (query, verb) => {
    expect(parseRequestInfo('GET', `/api/v1/namespaces/a/configmaps${query}`).verb).toBe(verb);
  });

  it('takes the name of a metadata.name field selector only when ListOptions decode', () => {
    const base = '/api/v1/namespaces/a/configmaps?fieldSelector=metadata.name%3Dc1';
    expect(parseRequestInfo('GET', base).name).toBe('c1');
    expect(parseRequestInfo('GET', `${base}&limit=abc`).name).toBe('');
    expect(parseRequestInfo('GET', `${base}&timeoutSeconds=1.5`).name).toBe('');
    // The lhs is not trimmed: `metadata.name = c1` is another field.
    expect(parseRequestInfo('GET', '/api/v1/namespaces/a/configmaps?fieldSelector=metadata.name+%3D+c1').name).toBe('');
    // An unescaped `=` in the value fails the selector.
    expect(parseRequestInfo('GET', '/api/v1/namespaces/a/configmaps?fieldSelector=metadata.name%3Dc%3D1').name).toBe('');
  });

  it('hands the selectors to authorization for list, watch and deletecollection, not for the verb-in-path watch', () => {
    expect(parseRequestInfo('GET', '/api/v1/namespaces/a/configmaps?labelSelector=a%3Db')).toMatchObject({ verb: 'list', labelSelector: 'a=b' });
    expect(parseRequestInfo('GET', '/api/v1/watch/namespaces/a/configmaps?labelSelector=a%3Db').labelSelector).toBeUndefined();
  });
});

describe('go-url', () => {
  it('unescapes as Go does', () => {
    expect(goUnescape('a%2Fb+c', false)).toBe('a/b+c');
    expect(goUnescape('a%2Fb+c', true)).toBe('a/b c');
    expect(goUnescape('%', false)).toBeUndefined();
    expect(goUnescape('%e2%82%ac', false)).toBe('€');
  });

  it('splits and trims as splitPath does', () => {
    expect(goSplitPath('/')).toEqual([]);
    expect(goSplitPath('//a//b//')).toEqual(['a', '', 'b']);
  });

  it('keeps the raw query and drops what ParseQuery drops', () => {
    expect(parseGoRequestTarget('/a%2Fb?x=%2F')).toEqual({ path: '/a/b', rawQuery: 'x=%2F' });
    expect(parseGoRequestTarget('/a\x01')).toBeUndefined();
    expect([...goParseQuery('a=1&&b=2;c=3&d=%zz&e=x+y&a=2')]).toEqual([
      ['a', ['1', '2']],
      ['e', ['x y']],
    ]);
  });
});
