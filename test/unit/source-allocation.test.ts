// Which creates the source allocates while the destination owns their shard, and how its values reach
// the destination's copy (aggregator/request/source-allocation.ts). The lab test in
// test/e2e/aggregator-bridge.test.ts runs the whole create through real API servers.
import { describe, expect, it } from '@jest/globals';
import { APPLY_PATCH_YAML, newlyAllocated, parseCreateBody, sourceAllocatingWrite, withSourceAllocation } from '../../aggregator/request/source-allocation.js';
import { parseRequestInfo } from '../../lib/routing/request-info.js';

const decide = (method: string, url: string, contentType = 'application/json') => sourceAllocatingWrite(parseRequestInfo(method, url), url, contentType);

describe('sourceAllocatingWrite', () => {
  it.each([
    ['POST', '/api/v1/namespaces/apps/services?fieldManager=kubectl-create', 'application/json', 'create'],
    ['POST', '/api/v1/namespaces/apps/services', 'application/vnd.kubernetes.protobuf', 'create'],
    ['POST', '/api/v1/namespaces/apps/services?dryRun=All', 'application/json', undefined],
    ['PATCH', '/api/v1/namespaces/apps/services/web?fieldManager=kubectl&force=true', APPLY_PATCH_YAML, 'apply'],
    ['PATCH', '/api/v1/namespaces/apps/services/web?fieldManager=kubectl', `${APPLY_PATCH_YAML}; charset=utf-8`, 'apply'],
    ['PATCH', '/api/v1/namespaces/apps/services/web?fieldManager=kubectl&dryRun=All', APPLY_PATCH_YAML, undefined],
    ['PATCH', '/api/v1/namespaces/apps/services/web', 'application/merge-patch+json', 'update'],
    ['PATCH', '/api/v1/namespaces/apps/services/web', 'application/json-patch+json', 'update'],
    ['PATCH', '/api/v1/namespaces/apps/services/web?dryRun=All', 'application/strategic-merge-patch+json', undefined],
    ['PATCH', '/api/v1/namespaces/apps/services/web/status?fieldManager=kubectl', APPLY_PATCH_YAML, undefined],
    ['PUT', '/api/v1/namespaces/apps/services/web', 'application/json', 'update'],
    ['PUT', '/api/v1/namespaces/apps/services/web', 'application/vnd.kubernetes.protobuf', undefined],
    ['PUT', '/api/v1/namespaces/apps/services/web/status', 'application/json', undefined],
    ['POST', '/api/v1/namespaces/apps/configmaps', 'application/json', undefined],
    ['PATCH', '/api/v1/namespaces/apps/configmaps/c?fieldManager=kubectl', APPLY_PATCH_YAML, undefined],
    ['POST', '/apis/example.com/v1/namespaces/apps/services', 'application/json', undefined],
    ['GET', '/api/v1/namespaces/apps/services', 'application/json', undefined],
  ])('%s %s (%s) -> %s', (method, url, contentType, expected) => {
    expect(decide(method, url, contentType)).toBe(expected);
  });
});

describe('parseCreateBody', () => {
  it('takes a JSON object with metadata', () => {
    expect(parseCreateBody(Buffer.from('{"kind":"Service","metadata":{"name":"web"}}'))?.metadata.name).toBe('web');
  });
  it.each([['not json'], ['[]'], ['null'], ['{"kind":"Service"}'], ['{"metadata":"web"}']])('leaves %s to the API server', (text) => {
    expect(parseCreateBody(Buffer.from(text))).toBeUndefined();
  });
  it("reads an apply's YAML (or JSON, which is YAML too), and leaves YAML that is not an object to the API server", () => {
    expect(parseCreateBody(Buffer.from('apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n'), true)?.metadata.name).toBe('web');
    expect(parseCreateBody(Buffer.from('{"kind":"Service","metadata":{"name":"web"}}'), true)?.metadata.name).toBe('web');
    expect(parseCreateBody(Buffer.from('- a\n- b\n'), true)).toBeUndefined();
    expect(parseCreateBody(Buffer.from('a: [unclosed'), true)).toBeUndefined();
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

  it("gives each port the source's nodePort of the same number and protocol: an apply may name only some ports, in its own order", () => {
    const apply = {
      metadata: { name: 'web' },
      spec: { type: 'NodePort', ports: [{ port: 53, protocol: 'UDP' }, { port: 81 }] },
    } as unknown as typeof requested;
    const source = {
      ...allocated,
      spec: {
        ports: [
          { port: 80, protocol: 'TCP', nodePort: 31080 },
          { port: 81, protocol: 'TCP', nodePort: 31081 },
          { port: 53, protocol: 'TCP', nodePort: 31053 },
          { port: 53, protocol: 'UDP', nodePort: 32053 },
        ],
      },
    } as unknown as typeof allocated;
    expect((withSourceAllocation(apply, source).spec as { ports: unknown[] }).ports).toEqual([
      { port: 53, protocol: 'UDP', nodePort: 32053 },
      { port: 81, nodePort: 31081 },
    ]);
  });
});

describe('newlyAllocated', () => {
  const service = (spec: object) => ({ metadata: { name: 'web' }, spec }) as unknown as Parameters<typeof newlyAllocated>[0];
  const clusterIP = { type: 'ClusterIP', clusterIP: '10.96.0.9', clusterIPs: ['10.96.0.9'], ports: [{ port: 80 }] };
  it.each([
    ['a type change to NodePort', clusterIP, { ...clusterIP, type: 'NodePort', ports: [{ port: 80, nodePort: 31000 }] }, true],
    [
      'a new port of a NodePort Service',
      { ...clusterIP, ports: [{ port: 80, nodePort: 31000 }] },
      {
        ...clusterIP,
        ports: [
          { port: 80, nodePort: 31000 },
          { port: 81, nodePort: 31001 },
        ],
      },
      true,
    ],
    ['ExternalName to ClusterIP', { type: 'ExternalName', externalName: 'example.com' }, clusterIP, true],
    [
      'a health-check port (LoadBalancer, Local)',
      { ...clusterIP, ports: [{ port: 80, nodePort: 31000 }] },
      { ...clusterIP, ports: [{ port: 80, nodePort: 31000 }], healthCheckNodePort: 32000 },
      true,
    ],
    ['a label or selector change', clusterIP, { ...clusterIP, selector: { app: 'web' } }, false],
    [
      'a port removed',
      {
        ...clusterIP,
        ports: [
          { port: 80, nodePort: 31000 },
          { port: 81, nodePort: 31001 },
        ],
      },
      { ...clusterIP, ports: [{ port: 80, nodePort: 31000 }] },
      false,
    ],
    ['a headless Service', { clusterIP: 'None', clusterIPs: ['None'] }, { clusterIP: 'None', clusterIPs: ['None'], ports: [{ port: 80 }] }, false],
  ])('%s', (_what, before, after, expected) => {
    expect(newlyAllocated(service(before), service(after))).toBe(expected);
  });
});
