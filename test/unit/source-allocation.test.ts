// Which creates the source allocates while the destination owns their shard, and how its values reach
// the destination's copy (aggregator/source-allocation.ts). The lab test in
// test/e2e/aggregator-bridge.test.ts runs the whole create through real API servers.
import { describe, expect, it } from '@jest/globals';
import { needsSourceAllocation, parseCreateBody, withSourceAllocation } from '../../aggregator/source-allocation.js';
import { parseRequestInfo } from '../../lib/routing/request-info.js';

const decide = (method: string, url: string) => needsSourceAllocation(parseRequestInfo(method, url), url);

describe('needsSourceAllocation', () => {
  it.each([
    ['POST', '/api/v1/namespaces/apps/services?fieldManager=kubectl-create', true],
    ['POST', '/api/v1/namespaces/apps/services', true],
    ['POST', '/api/v1/namespaces/apps/services?dryRun=All', false],
    ['PUT', '/api/v1/namespaces/apps/services/web', false],
    ['PUT', '/api/v1/namespaces/apps/services/web/status', false],
    ['POST', '/api/v1/namespaces/apps/configmaps', false],
    ['POST', '/apis/example.com/v1/namespaces/apps/services', false],
    ['GET', '/api/v1/namespaces/apps/services', false],
  ])('%s %s -> %s', (method, url, expected) => {
    expect(decide(method, url)).toBe(expected);
  });
});

describe('parseCreateBody', () => {
  it('takes a JSON object with metadata', () => {
    expect(parseCreateBody(Buffer.from('{"kind":"Service","metadata":{"name":"web"}}'))?.metadata.name).toBe('web');
  });
  it.each([['not json'], ['[]'], ['null'], ['{"kind":"Service"}'], ['{"metadata":"web"}']])('leaves %s to the API server', (text) => {
    expect(parseCreateBody(Buffer.from(text))).toBeUndefined();
  });
});

describe('withSourceAllocation', () => {
  const requested = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { generateName: 'web-', labels: { app: 'web' } },
    spec: {
      type: 'NodePort',
      ports: [
        { name: 'http', port: 80 },
        { name: 'admin', port: 81, nodePort: 30081 },
      ],
      selector: { app: 'web' },
    },
  } as unknown as Parameters<typeof withSourceAllocation>[0];
  const allocated = {
    metadata: { name: 'web-x7k2p', uid: 'source-uid', resourceVersion: '812', creationTimestamp: '2026-12-06T00:00:00Z' },
    spec: {
      type: 'NodePort',
      clusterIP: '10.96.14.7',
      clusterIPs: ['10.96.14.7'],
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      ports: [
        { name: 'http', port: 80, nodePort: 31544 },
        { name: 'admin', port: 81, nodePort: 30081 },
      ],
    },
  } as unknown as Parameters<typeof withSourceAllocation>[0];

  it("carries the source's name, IPs, families and nodePorts, and nothing the source's server set for itself", () => {
    const copy = withSourceAllocation(requested, allocated);
    expect(copy.metadata).toEqual({ generateName: 'web-', name: 'web-x7k2p', labels: { app: 'web' } });
    // The source's spec, plus what only the client said (the selector).
    expect(copy.spec).toEqual({ ...(allocated.spec as object), selector: { app: 'web' } });
  });

  it('keeps a healthCheckNodePort and a headless ClusterIP as the source has them, and leaves the request unchanged', () => {
    const before = JSON.stringify(requested);
    const headless = { ...allocated, spec: { clusterIP: 'None', clusterIPs: ['None'], healthCheckNodePort: 32001, ports: [{ port: 80 }] } };
    const copy = withSourceAllocation(requested, headless as typeof allocated);
    expect(copy.spec).toMatchObject({ clusterIP: 'None', clusterIPs: ['None'], healthCheckNodePort: 32001 });
    expect((copy.spec as { ports: unknown[] }).ports).toEqual([
      { name: 'http', port: 80 },
      { name: 'admin', port: 81, nodePort: 30081 },
    ]);
    expect(JSON.stringify(requested)).toBe(before);
  });
});
