/**
 * `bridgectl preflight` on the lab's two real clusters: every check passes on the lab as it is set up
 * (same service range, the destination's workload controllers off), and each failure is found and
 * named with exit code 1: a destination Service that holds a source Service's clusterIP, a clusterIP
 * and a nodePort outside the destination's ranges (in the real API server's words), and a destination
 * that runs the deployment controller (the source, which runs every controller, stands in for it).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { PREFLIGHT_LABEL } from '../../lib/names.js';
import { checkServiceIps } from '../../cli/preflight/service-ips.js';
import type { ServiceObject } from '../../cli/preflight/service-fit.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { DESTINATION_CONTROLLERS_FLAG } from '../../lib/mirror/workload-controllers.js';
import { createNamespace, kubeconfigPath, kubectlOk, run, uniqueName } from '../helpers/lab-clients.js';

const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');
const CHECKS = ['versions', 'api-types', 'service-ips', 'controllers-off', 'cluster-rbac', 'unbridged-pods'];

async function preflight(args: string[] = []) {
  const result = await run(process.execPath, [CLI, 'preflight', ...args]);
  return { ...result, lines: result.stdout.split('\n').filter(Boolean) };
}

/** Preflight's scratch namespaces in a cluster that are not being deleted (each run must delete its own). */
async function liveScratchNamespaces(client: KubeRestClient): Promise<string[]> {
  const list = await client.expect<{ items: { metadata: { name: string; deletionTimestamp?: string } }[] }>(
    'GET',
    `/api/v1/namespaces?labelSelector=${encodeURIComponent(`${PREFLIGHT_LABEL}=true`)}`,
    [200],
  );
  return list.body.items.filter((ns) => !ns.metadata.deletionTimestamp).map((ns) => ns.metadata.name);
}

let source: KubeRestClient;
let destination: KubeRestClient;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(() => {
  source = KubeRestClient.load(kubeconfigPath('source'));
  destination = KubeRestClient.load(kubeconfigPath('destination'));
});

afterAll(async () => {
  for (const undo of cleanup.reverse()) await undo().catch(() => undefined);
  source.close();
  destination.close();
});

describe('bridgectl preflight', () => {
  it('passes every check on the lab, one ok line each, and leaves no scratch namespace', async () => {
    const result = await preflight();
    // cluster-rbac and unbridged-pods only warn; on the shared lab another suite's destination-only ClusterRoleBinding,
    // or an opted-out pod in a labelled namespace, may be there (test/e2e/cluster-rbac.test.ts and
    // test/e2e/webhook-injection-race.test.ts show the warnings themselves).
    const lines = result.lines.map((line) => line.replace(/^warn (cluster-rbac|unbridged-pods):/, 'ok   $1:'));
    expect(lines.filter((line) => !line.startsWith('ok   '))).toEqual([]);
    expect(lines.map((line) => line.split(':')[0])).toEqual(CHECKS.map((check) => `ok   ${check}`));
    expect(result.lines[3]).toMatch(/^ok {3}controllers-off: a probe Deployment got no ReplicaSet and no status in \d+\.\d s/);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    expect(await liveScratchNamespaces(destination)).toEqual([]);
  });

  it("fails with exit 1 when a destination Service holds a source Service's clusterIP, naming both", async () => {
    const inSource = await createNamespace('source', 'preflight');
    cleanup.push(() => kubectlOk('source', ['delete', 'namespace', inSource, '--wait=false']));
    await kubectlOk('source', ['-n', inSource, 'create', 'service', 'clusterip', 'web', '--tcp=80:8080']);
    const ip = await kubectlOk('source', ['-n', inSource, 'get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}']);
    const inDestination = await createNamespace('destination', 'preflight');
    cleanup.push(() => kubectlOk('destination', ['delete', 'namespace', inDestination, '--wait=false']));
    await kubectlOk('destination', ['-n', inDestination, 'create', 'service', 'clusterip', 'taker', '--tcp=80:80', `--clusterip=${ip}`]);
    // Deleted at once (not with its namespace, which takes a while), so no later test meets the taken IP.
    cleanup.push(() => kubectlOk('destination', ['-n', inDestination, 'delete', 'service', 'taker']));

    const result = await preflight();
    const expected = `${inSource}/web: clusterIP ${ip} is taken in the destination by Service ${inDestination}/taker`;
    expect(result.lines.filter((line) => line.startsWith('FAIL'))).toEqual([
      expect.stringMatching(/^FAIL service-ips: 1 of \d+ Services of the source cannot be created in the destination with their clusterIPs and nodePorts: /),
    ]);
    expect(result.lines[2]).toContain(expected);
    expect(result.lines[2]).toMatch(/\(fix: delete or recreate the destination Services that hold the source's clusterIPs\)$/);
    expect(result.code).toBe(1);

    const json = await preflight(['--output', 'json']);
    const report = JSON.parse(json.stdout) as { ok: boolean; checks: { check: string; ok: boolean; failures?: string[] }[] };
    expect(report.ok).toBe(false);
    expect(report.checks.map((c) => [c.check, c.ok])).toEqual([
      ['versions', true],
      ['api-types', true],
      ['service-ips', false],
      ['controllers-off', true],
      ['cluster-rbac', true],
      ['unbridged-pods', true],
    ]);
    expect(report.checks[2]!.failures).toEqual([expected]);
    expect(json.code).toBe(1);
  });

  it("reports the destination API server's refusal of a clusterIP and a nodePort outside its ranges", async () => {
    const namespace = uniqueName('preflight-absent'); // exists in neither cluster: the check uses a scratch namespace
    const service = (name: string, spec: ServiceObject['spec']): ServiceObject => ({ metadata: { name, namespace }, spec });
    const result = await checkServiceIps(
      [
        service('outside-ip', { type: 'ClusterIP', clusterIP: '192.0.2.10', clusterIPs: ['192.0.2.10'], ports: [{ port: 80, protocol: 'TCP' }] }),
        service('outside-port', { type: 'NodePort', ports: [{ port: 80, protocol: 'TCP', nodePort: 29999 }] }),
      ],
      destination,
    );
    expect(result.failures).toEqual([
      expect.stringMatching(new RegExp(`^${namespace}/outside-ip: .*the provided IP \\(192\\.0\\.2\\.10\\) is not in the valid range`)),
      expect.stringMatching(new RegExp(`^${namespace}/outside-port: nodePort: Invalid value: 29999: provided port is not in the valid range`)),
    ]);
    expect(result.fix).toContain("--service-cluster-ip-range that contains the source's clusterIPs and the source's --service-node-port-range");
    expect(result.ok).toBe(false);
    expect(await liveScratchNamespaces(destination)).toEqual([]);
  });

  it('fails with exit 1 when the destination runs the deployment controller, and says which flag turns it off', async () => {
    // The source runs every controller: as the "destination", its deployment controller answers the probe.
    const result = await preflight(['--destination-kubeconfig', kubeconfigPath('source')]);
    expect(result.lines.filter((line) => line.startsWith('FAIL'))).toEqual([
      expect.stringMatching(
        /^FAIL controllers-off: a probe Deployment got (ReplicaSet preflight-probe-\w+|a status \(observedGeneration 1\)) within \d+\.\d s: /,
      ),
    ]);
    expect(result.lines[3]).toContain(`(fix: run the destination's kube-controller-manager with ${DESTINATION_CONTROLLERS_FLAG})`);
    expect(result.code).toBe(1);
    expect(await liveScratchNamespaces(source)).toEqual([]);
  });
});
