/**
 * bridgectl preflight's decisions as tables (versions, API types, service fit, fixes, the printed line)
 * and its probes against a fake API server: scratch namespaces are created once and always deleted.
 */
import { describe, expect, it } from '@jest/globals';
import { missingTypes, servedTypes, type ServedTypes } from '../../cli/preflight/api-types.js';
import type { KubeApi } from '../../cli/preflight/clusters.js';
import { probeControllers } from '../../cli/preflight/controllers.js';
import { listCapped, renderLine, renderReport, runCheck } from '../../cli/preflight/report.js';
import { apiMessage, fixFor, indexDestination, planService, refusal, withRefusal, type ServiceObject } from '../../cli/preflight/service-fit.js';
import { checkServiceIps } from '../../cli/preflight/service-ips.js';
import { compareVersions } from '../../cli/preflight/versions.js';
import { BridgeError } from '../../lib/errors.js';
import { DESTINATION_CONTROLLERS_FLAG } from '../../lib/mirror/workload-controllers.js';

type Handler = (method: string, path: string, body?: unknown) => { status: number; body?: unknown };

/** A fake API server: answers from `handler` and records each call as "METHOD path". */
function fakeKube(handler: Handler) {
  const calls: string[] = [];
  const request = async (method: string, path: string, body?: unknown) => {
    calls.push(`${method} ${path}`);
    return handler(method, path, body);
  };
  const api = {
    request,
    async expect(method: string, path: string, ok: number[], body?: unknown) {
      const response = await request(method, path, body);
      if (!ok.includes(response.status)) throw new BridgeError('BRIDGE_ERR_KUBE_API', `${method} ${path}: HTTP ${response.status}`);
      return response;
    },
  } as unknown as KubeApi;
  return { api, calls };
}

const version = (minor: string, gitVersion = `v1.${minor}.0`, major = '1') => ({ major, minor, gitVersion });

describe('preflight versions', () => {
  it.each([
    ['the same minor', version('36'), version('36'), true, 'source v1.36.0, destination v1.36.0: the destination is the same minor release'],
    ['a newer destination', version('28'), version('36'), true, 'source v1.28.0, destination v1.36.0: the destination is a newer minor release'],
    [
      'a provider suffix',
      version('30+', 'v1.30.2-gke.1'),
      version('30'),
      true,
      'source v1.30.2-gke.1, destination v1.30.0: the destination is the same minor release',
    ],
    ['an older destination', version('36'), version('28'), false, 'the destination (v1.28.0) is older than the source (v1.36.0)'],
    ['an older major', version('0', 'v2.0.0', '2'), version('99'), false, 'the destination (v1.99.0) is older than the source (v2.0.0)'],
    [
      'an unreadable minor',
      version('x'),
      version('36'),
      false,
      'cannot read the source (major "1", minor "x") version from /version (source v1.x.0, destination v1.36.0)',
    ],
  ])('%s', (_name, source, destination, ok, detail) => {
    const result = compareVersions(source, destination);
    expect({ ok: result.ok, detail: result.detail }).toEqual({ ok, detail });
  });

  it('says which release to upgrade the destination to', () => {
    expect(compareVersions(version('36'), version('28')).fix).toBe('upgrade the destination to Kubernetes 1.36 or newer');
  });
});

describe('preflight API types', () => {
  const types = (entries: [string, string[]][]): ServedTypes => new Map(entries.map(([shard, versions]) => [shard, new Set(versions)]));

  it('names each type and version the destination lacks, sorted', () => {
    const needed = types([
      ['configmaps', ['v1']],
      ['widgets.example.com', ['v1', 'v2']],
      ['leases.coordination.k8s.io', ['v1']],
    ]);
    const served = types([
      ['configmaps', ['v1']],
      ['widgets.example.com', ['v1']],
    ]);
    expect(missingTypes(needed, served)).toEqual(['coordination.k8s.io/v1 leases', 'example.com/v2 widgets']);
    expect(missingTypes(needed, needed)).toEqual([]);
  });

  it('reads discovery of the named groups only, skipping subresources and groups not served', async () => {
    const answers: Record<string, unknown> = {
      '/api': { versions: ['v1'] },
      '/api/v1': { resources: [{ name: 'configmaps' }, { name: 'services' }, { name: 'services/status' }] },
      '/apis/example.com': { versions: [{ version: 'v1' }, { version: 'v2' }] },
      '/apis/example.com/v1': { resources: [{ name: 'widgets' }] },
      '/apis/example.com/v2': { resources: [{ name: 'widgets' }, { name: 'gadgets' }] },
    };
    const { api, calls } = fakeKube((_method, path) => (path in answers ? { status: 200, body: answers[path] } : { status: 404 }));
    const served = await servedTypes(api, ['', 'example.com', 'absent.io', '']);
    expect([...served].map(([shard, versions]) => [shard, [...versions]])).toEqual([
      ['configmaps', ['v1']],
      ['services', ['v1']],
      ['widgets.example.com', ['v1', 'v2']],
      ['gadgets.example.com', ['v2']],
    ]);
    expect(calls).toEqual(['GET /api', 'GET /api/v1', 'GET /apis/example.com', 'GET /apis/example.com/v1', 'GET /apis/example.com/v2', 'GET /apis/absent.io']);
  });
});

const svc = (namespace: string, name: string, spec: ServiceObject['spec']): ServiceObject => ({ metadata: { namespace, name }, spec });

describe('preflight service fit', () => {
  const destination = indexDestination(
    [
      svc('apps', 'web', { clusterIP: '10.96.0.10', ports: [{ port: 80, nodePort: 30080 }] }),
      svc('other', 'holder', { clusterIP: '10.96.0.20', ports: [{ port: 80, nodePort: 30090 }], healthCheckNodePort: 30091 }),
      svc('apps', 'headless', { clusterIP: 'None', clusterIPs: ['None'] }),
    ],
    ['apps', 'other'],
  );

  it.each([
    ['the synchronizer copy (same name and clusterIP)', svc('apps', 'web', { clusterIP: '10.96.0.10' }), { action: 'already-there' }],
    ['a headless copy', svc('apps', 'headless', { clusterIP: 'None' }), { action: 'already-there' }],
    ['a new Service in an existing namespace', svc('apps', 'new', { clusterIP: '10.96.0.30' }), { action: 'check', problems: [], dryRunIn: 'own' }],
    [
      'a new Service in a namespace the destination lacks',
      svc('gone', 'new', { clusterIP: '10.96.0.30' }),
      { action: 'check', problems: [], dryRunIn: 'scratch' },
    ],
    [
      'the same name with another clusterIP',
      svc('apps', 'web', { clusterIP: '10.96.0.11' }),
      {
        action: 'check',
        problems: [{ kind: 'name-taken', text: "exists in the destination with clusterIP 10.96.0.10, not the source's 10.96.0.11" }],
        dryRunIn: 'scratch',
      },
    ],
    [
      'a clusterIP and a nodePort another Service holds',
      svc('apps', 'new', { clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'], ports: [{ port: 80, nodePort: 30091 }] }),
      {
        action: 'check',
        problems: [
          { kind: 'ip-taken', text: 'clusterIP 10.96.0.20 is taken in the destination by Service other/holder' },
          { kind: 'port-taken', text: 'nodePort 30091 is taken in the destination by Service other/holder' },
        ],
        dryRunIn: 'own',
      },
    ],
  ])('%s', (_name, service, plan) => {
    expect(planService(service, destination)).toEqual(plan);
  });

  it('reads what a refusal means, and keeps only the refusals the comparison did not already explain', () => {
    const taken = { kind: 'port-taken' as const, text: 'nodePort 30091 is taken in the destination by Service other/holder' };
    expect(refusal('nodePort: Invalid value: 30091: provided port is already allocated')).toEqual({
      kind: 'port-taken',
      text: 'nodePort: Invalid value: 30091: provided port is already allocated',
    });
    expect(refusal('the provided IP (10.97.0.1) is not in the valid range').kind).toBe('refused');
    expect(withRefusal([taken], refusal('provided port is already allocated'))).toEqual([taken]);
    expect(withRefusal([taken], refusal('not in the valid range'))).toEqual([taken, { kind: 'refused', text: 'not in the valid range' }]);
    expect(withRefusal([], undefined)).toEqual([]);
  });

  it("gives one fix per kind found, and the API server's message without the object's name", () => {
    expect(fixFor(new Set(['refused', 'ip-taken']))).toBe(
      "delete or recreate the destination Services that hold the source's clusterIPs; " +
        "run the destination's kube-apiserver with a --service-cluster-ip-range that contains the source's clusterIPs " +
        "and the source's --service-node-port-range",
    );
    const body = { message: 'Service "nodeports-3" is invalid: spec.ports[1].nodePort: Invalid value: 29999: provided port is not in the valid range' };
    expect(apiMessage(body, 422)).toBe('nodePort: Invalid value: 29999: provided port is not in the valid range');
    expect(apiMessage('not json', 500)).toBe('HTTP 500');
  });

  it('creates one scratch namespace for all the Services that need it, and deletes it', async () => {
    const { api, calls } = fakeKube((method, path) => {
      if (method === 'GET' && path === '/api/v1/services') return { status: 200, body: { items: [] } };
      if (method === 'GET' && path === '/api/v1/namespaces') return { status: 200, body: { items: [{ metadata: { name: 'apps' } }] } };
      return { status: method === 'DELETE' ? 200 : 201, body: {} };
    });
    const services = ['a', 'b', 'c', 'd'].map((name) => svc('gone', name, { clusterIP: `10.96.1.${name.charCodeAt(0)}` }));
    const result = await checkServiceIps([...services, svc('apps', 'e', { clusterIP: '10.96.2.1' })], api);
    expect(result).toEqual({
      check: 'service-ips',
      ok: true,
      detail: 'all 5 Services of the source fit the destination with their clusterIPs and nodePorts (0 already there, 5 created by dry-run)',
    });
    const scratch = calls.filter((c) => c === 'POST /api/v1/namespaces');
    expect(scratch).toHaveLength(1);
    expect(calls.filter((c) => c.includes('/namespaces/apps/services?dryRun=All'))).toHaveLength(1);
    expect(calls.filter((c) => /^POST \/api\/v1\/namespaces\/bridge-preflight-services-\w+\/services\?dryRun=All/.test(c))).toHaveLength(4);
    expect(calls.filter((c) => /^DELETE \/api\/v1\/namespaces\/bridge-preflight-services-\w+$/.test(c))).toHaveLength(1);
  });
});

describe('preflight controller probe', () => {
  /** A fake cluster whose deployment controller makes a ReplicaSet on the `replicaSetOnPoll`-th look (never when 0). */
  function cluster(replicaSetOnPoll: number, failDeployment = false) {
    let polls = 0;
    return fakeKube((method, path) => {
      if (method === 'POST' && path.endsWith('/deployments')) return { status: failDeployment ? 403 : 201, body: {} };
      if (path.endsWith('/replicasets')) {
        polls++;
        return { status: 200, body: { items: replicaSetOnPoll > 0 && polls >= replicaSetOnPoll ? [{ metadata: { name: 'preflight-probe-abc' } }] : [] } };
      }
      if (path.endsWith('/deployments/preflight-probe')) return { status: 200, body: {} };
      return { status: method === 'DELETE' ? 200 : 201, body: {} };
    });
  }
  const deletes = (calls: string[]) => calls.filter((c) => /^DELETE \/api\/v1\/namespaces\/bridge-preflight-controllers-\w+$/.test(c));

  it('fails naming the ReplicaSet and the flag that turns the controllers off, and deletes its namespace', async () => {
    const { api, calls } = cluster(2);
    const result = await probeControllers(api, 60_000);
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/^a probe Deployment got ReplicaSet preflight-probe-abc within \d+\.\d s: /);
    expect(result.fix).toBe(`run the destination's kube-controller-manager with ${DESTINATION_CONTROLLERS_FLAG}`);
    expect(deletes(calls)).toHaveLength(1);
  });

  it('passes when nothing acts on the probe for the whole wait, and deletes its namespace', async () => {
    const { api, calls } = cluster(0);
    const result = await probeControllers(api, 0);
    expect(result).toEqual({
      check: 'controllers-off',
      ok: true,
      detail: expect.stringMatching(/^a probe Deployment got no ReplicaSet and no status in \d+\.\d s: the destination's deployment controller is off$/),
    });
    expect(deletes(calls)).toHaveLength(1);
  });

  it('deletes its namespace when the probe cannot even be created, and the check fails with why', async () => {
    const { api, calls } = cluster(0, true);
    const result = await runCheck('controllers-off', () => probeControllers(api, 0));
    expect(result).toEqual({
      check: 'controllers-off',
      ok: false,
      detail: expect.stringMatching(/^could not check: POST \/apis\/apps\/v1\/namespaces\/bridge-preflight-controllers-\w+\/deployments: HTTP 403$/),
      fix: 'the message has the HTTP status and reason; check RBAC and connectivity',
    });
    expect(deletes(calls)).toHaveLength(1);
  });
});

describe('preflight report', () => {
  it('prints one line per check, the fix on failures, and caps the failures a line names', () => {
    expect(renderLine({ check: 'versions', ok: true, detail: 'source v1.36.3, destination v1.36.3' })).toBe(
      'ok   versions: source v1.36.3, destination v1.36.3',
    );
    expect(renderLine({ check: 'api-types', ok: false, detail: 'missing x', fix: 'add x' })).toBe('FAIL api-types: missing x (fix: add x)');
    expect(listCapped(['a', 'b', 'c'], 2)).toBe('a; b; and 1 more');
    expect(listCapped(['a', 'b'], 2)).toBe('a; b');
    const json = JSON.parse(renderReport([{ check: 'versions', ok: true, detail: 'd' }], 'json')) as unknown;
    expect(json).toEqual({ ok: true, checks: [{ check: 'versions', ok: true, detail: 'd' }] });
  });
});
