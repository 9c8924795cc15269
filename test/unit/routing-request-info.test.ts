import { describe, expect, it } from '@jest/globals';
import { exactNameFromFieldSelector, isConnectRequest, parseRequestInfo } from '../../lib/routing/request-info.js';

type Expected = [verb: string, group: string, version: string, namespace: string, resource: string, subresource: string, name: string];

// URL shapes as kube-apiserver's RequestInfoFactory resolves them (requestinfo_test.go cases and the
// URLs kubectl, client-go and client-node send); the captured-from-audit fixture test complements these.
describe('parseRequestInfo: resource requests', () => {
  it.each<[string, string, Expected]>([
    ['GET', '/api/v1/namespaces', ['list', '', 'v1', '', 'namespaces', '', '']],
    ['GET', '/api/v1/namespaces/other', ['get', '', 'v1', 'other', 'namespaces', '', 'other']],
    ['PUT', '/api/v1/namespaces/other/finalize', ['update', '', 'v1', 'other', 'namespaces', 'finalize', 'other']],
    ['GET', '/api/v1/namespaces/other/status', ['get', '', 'v1', 'other', 'namespaces', 'status', 'other']],
    ['GET', '/api/v1/namespaces/other/pods', ['list', '', 'v1', 'other', 'pods', '', '']],
    ['GET', '/api/v1/namespaces/other/pods/foo', ['get', '', 'v1', 'other', 'pods', '', 'foo']],
    ['HEAD', '/api/v1/namespaces/other/pods/foo', ['get', '', 'v1', 'other', 'pods', '', 'foo']],
    ['GET', '/api/v1/pods', ['list', '', 'v1', '', 'pods', '', '']],
    ['GET', '/api/v1/pods?watch=true&resourceVersion=10', ['watch', '', 'v1', '', 'pods', '', '']],
    ['GET', '/api/v1/pods?watch=1', ['watch', '', 'v1', '', 'pods', '', '']],
    ['GET', '/api/v1/pods?watch=', ['watch', '', 'v1', '', 'pods', '', '']],
    ['GET', '/api/v1/pods?watch=false', ['list', '', 'v1', '', 'pods', '', '']],
    ['GET', '/api/v1/pods?watch=0', ['list', '', 'v1', '', 'pods', '', '']],
    ['GET', '/api/v1/watch/pods', ['watch', '', 'v1', '', 'pods', '', '']],
    ['GET', '/api/v1/watch/namespaces/other/pods', ['watch', '', 'v1', 'other', 'pods', '', '']],
    ['GET', '/api/v1/watch/namespaces/other/pods/foo', ['watch', '', 'v1', 'other', 'pods', '', 'foo']],
    ['GET', '/api/v1/namespaces/other/configmaps?fieldSelector=metadata.name%3Dcm1&watch=true', ['watch', '', 'v1', 'other', 'configmaps', '', 'cm1']],
    ['GET', '/api/v1/namespaces/other/configmaps?fieldSelector=metadata.name%3D%3Dcm1', ['list', '', 'v1', 'other', 'configmaps', '', 'cm1']],
    ['GET', '/api/v1/namespaces/other/configmaps?fieldSelector=metadata.name%21%3Dcm1', ['list', '', 'v1', 'other', 'configmaps', '', '']],
    ['POST', '/api/v1/namespaces/other/pods', ['create', '', 'v1', 'other', 'pods', '', '']],
    ['PUT', '/api/v1/namespaces/other/pods/foo', ['update', '', 'v1', 'other', 'pods', '', 'foo']],
    ['PATCH', '/api/v1/namespaces/other/pods/foo', ['patch', '', 'v1', 'other', 'pods', '', 'foo']],
    ['DELETE', '/api/v1/namespaces/other/pods/foo', ['delete', '', 'v1', 'other', 'pods', '', 'foo']],
    ['DELETE', '/api/v1/namespaces/other/pods', ['deletecollection', '', 'v1', 'other', 'pods', '', '']],
    ['PUT', '/api/v1/namespaces/other/pods/foo/status', ['update', '', 'v1', 'other', 'pods', 'status', 'foo']],
    ['GET', '/api/v1/namespaces/other/pods/foo/log?follow=true', ['get', '', 'v1', 'other', 'pods', 'log', 'foo']],
    ['POST', '/api/v1/namespaces/other/pods/foo/exec?command=sh&stdin=true', ['create', '', 'v1', 'other', 'pods', 'exec', 'foo']],
    ['GET', '/api/v1/namespaces/other/pods/foo/exec?command=sh', ['get', '', 'v1', 'other', 'pods', 'exec', 'foo']],
    ['POST', '/api/v1/namespaces/other/pods/foo/attach?stdin=true', ['create', '', 'v1', 'other', 'pods', 'attach', 'foo']],
    ['POST', '/api/v1/namespaces/other/pods/foo/portforward', ['create', '', 'v1', 'other', 'pods', 'portforward', 'foo']],
    ['POST', '/api/v1/namespaces/other/pods/foo/eviction', ['create', '', 'v1', 'other', 'pods', 'eviction', 'foo']],
    ['POST', '/api/v1/namespaces/other/pods/foo/binding', ['create', '', 'v1', 'other', 'pods', 'binding', 'foo']],
    ['GET', '/api/v1/namespaces/other/pods/foo/proxy/a/b', ['get', '', 'v1', 'other', 'pods', 'proxy', 'foo']],
    ['GET', '/api/v1/proxy/namespaces/other/pods/foo/a/b', ['proxy', '', 'v1', 'other', 'pods', '', 'foo']],
    ['GET', '/api/v1/nodes/n1/proxy/metrics', ['get', '', 'v1', '', 'nodes', 'proxy', 'n1']],
    ['POST', '/api/v1/namespaces/other/serviceaccounts/default/token', ['create', '', 'v1', 'other', 'serviceaccounts', 'token', 'default']],
    ['GET', '/apis/apps/v1/namespaces/other/deployments/d/scale', ['get', 'apps', 'v1', 'other', 'deployments', 'scale', 'd']],
    ['PATCH', '/apis/apps/v1/namespaces/other/deployments/d/scale', ['patch', 'apps', 'v1', 'other', 'deployments', 'scale', 'd']],
    ['GET', '/apis/apps/v1/deployments?limit=500', ['list', 'apps', 'v1', '', 'deployments', '', '']],
    ['GET', '/apis/apps/v1/watch/namespaces/other/deployments', ['watch', 'apps', 'v1', 'other', 'deployments', '', '']],
    ['GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles/admin', ['get', 'rbac.authorization.k8s.io', 'v1', '', 'clusterroles', '', 'admin']],
    ['POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', ['create', 'authorization.k8s.io', 'v1', '', 'selfsubjectaccessreviews', '', '']],
    ['GET', '/apis/example.com/v1/namespaces/other/widgets/w1/status', ['get', 'example.com', 'v1', 'other', 'widgets', 'status', 'w1']],
    [
      'PATCH',
      '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1',
      ['patch', 'coordination.k8s.io', 'v1', 'kube-node-lease', 'leases', '', 'node-1'],
    ],
    ['GET', '/api/v1/namespaces/other/configmaps/with%20space', ['get', '', 'v1', 'other', 'configmaps', '', 'with space']],
  ])('%s %s', (method, url, [verb, apiGroup, apiVersion, namespace, resource, subresource, name]) => {
    const query = new URLSearchParams(url.split('?')[1] ?? '');
    const selector = ['list', 'watch', 'deletecollection'].includes(verb!) && query.has('fieldSelector') ? { fieldSelector: query.get('fieldSelector') } : {};
    expect(parseRequestInfo(method, url)).toEqual({
      ...selector,
      isResourceRequest: true,
      // RequestInfo.Path is Go's URL.Path: decoded.
      path: decodeURIComponent(url.split('?')[0]!),
      verb,
      apiPrefix: url.startsWith('/apis/') ? 'apis' : 'api',
      apiGroup,
      apiVersion,
      namespace,
      resource,
      subresource,
      name,
    });
  });
});

describe('parseRequestInfo: non-resource requests', () => {
  it.each([
    ['GET', '/version', 'get'],
    ['GET', '/healthz', 'get'],
    ['GET', '/readyz?verbose', 'get'],
    ['GET', '/api', 'get'],
    ['GET', '/api/v1', 'get'],
    ['GET', '/apis', 'get'],
    ['GET', '/apis/apps', 'get'],
    ['GET', '/apis/apps/v1', 'get'],
    ['GET', '/openapi/v2', 'get'],
    ['GET', '/openapi/v3/apis/apps/v1?hash=ABC', 'get'],
    ['POST', '/foo/bar/baz', 'post'],
    ['GET', '/', 'get'],
  ])('%s %s', (method, url, verb) => {
    const info = parseRequestInfo(method, url);
    expect(info.isResourceRequest).toBe(false);
    expect(info.verb).toBe(verb);
    expect(info.path).toBe(url.split('?')[0]);
    expect(info.resource).toBe('');
  });
});

describe('parseRequestInfo: edge cases', () => {
  it('a legacy watch path with nothing after it is a resource request without a resource', () => {
    expect(parseRequestInfo('GET', '/api/v1/watch')).toMatchObject({ isResourceRequest: true, verb: 'watch', resource: '' });
  });

  it('an unknown method has an empty verb, as kube-apiserver gives it', () => {
    expect(parseRequestInfo('OPTIONS', '/api/v1/pods/x').verb).toBe('');
  });

  it('does not take an invalid path-segment name from a field selector', () => {
    expect(parseRequestInfo('GET', '/api/v1/pods?fieldSelector=metadata.name%3D..').name).toBe('');
  });
});

describe('exactNameFromFieldSelector', () => {
  it.each([
    ['metadata.name=a', 'a'],
    ['metadata.name==a', 'a'],
    ['status.phase=Running,metadata.name=b', 'b'],
    ['metadata.name!=a', undefined],
    ['metadata.namespace=a', undefined],
    ['metadata.name=a\\,b', 'a,b'],
    [null, undefined],
  ])('%s -> %s', (selector, name) => {
    expect(exactNameFromFieldSelector(selector)).toBe(name);
  });
});

describe('isConnectRequest', () => {
  it.each([
    ['POST', '/api/v1/namespaces/a/pods/p/exec', true],
    ['POST', '/api/v1/namespaces/a/pods/p/attach', true],
    ['POST', '/api/v1/namespaces/a/pods/p/portforward', true],
    ['GET', '/api/v1/namespaces/a/services/s/proxy/x', true],
    ['GET', '/api/v1/proxy/namespaces/a/pods/p', true],
    ['GET', '/api/v1/namespaces/a/pods/p/log', false],
    ['GET', '/api/v1/namespaces/a/pods/p', false],
  ])('%s %s -> %s', (method, url, expected) => {
    expect(isConnectRequest(parseRequestInfo(method, url))).toBe(expected);
  });
});
