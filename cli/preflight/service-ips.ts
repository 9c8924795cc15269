/**
 * Check 3: every Service the synchronizer would copy to the destination can be created there with the
 * clusterIP(s) and nodePorts the source chose (DESIGN.md section 3, "Creates"). Proven against the
 * destination's own API server: a server-side dry-run create of the very copy the synchronizer would
 * write checks the clusterIPs against the destination's service range, and the destination's Services
 * are compared for IPs and ports another one holds (service-fit.ts). A dry-run never checks a nodePort
 * against the range, so a Service with nodePorts is also created for real, in a scratch namespace and
 * without the source's clusterIP, and deleted at once.
 */
import { skipReason, replicaCopy } from '../../lib/mirror/copy.js';
import type { KubeApi } from './clusters.js';
import { listCapped, type CheckResult } from './report.js';
import { withScratchNamespace, type ScratchNamespace } from './scratch-namespace.js';
import {
  apiMessage,
  fixFor,
  indexDestination,
  nodePorts,
  planService,
  refusal,
  serviceId,
  withRefusal,
  type DestinationIndex,
  type ProblemKind,
  type ServiceObject,
  type ServiceProblem,
} from './service-fit.js';

const PARALLEL_DRY_RUNS = 8;
const FIELD_MANAGER = 'cluster-bridge-preflight';
const NAMESPACE_GONE = /because it is being terminated|namespaces "[^"]*" not found/;

interface NamespaceList {
  items: { metadata: { name: string }; status?: { phase?: string } }[];
}

/** The Services the synchronizer would copy: not in a system namespace, not a cluster's own, not being deleted. */
export async function movableServices(source: KubeApi): Promise<ServiceObject[]> {
  const list = await source.expect<{ items: ServiceObject[] }>('GET', '/api/v1/services', [200]);
  return list.body.items.filter((service) => skipReason('services', service) === undefined);
}

async function readDestination(destination: KubeApi): Promise<DestinationIndex> {
  const services = await destination.expect<{ items: ServiceObject[] }>('GET', '/api/v1/services', [200]);
  const namespaces = await destination.expect<NamespaceList>('GET', '/api/v1/namespaces', [200]);
  const usable = namespaces.body.items.filter((ns) => ns.status?.phase !== 'Terminating').map((ns) => ns.metadata.name);
  return indexDestination(services.body.items, usable);
}

/** The API server's refusal of the synchronizer's copy, or undefined when a create would succeed. */
async function dryRunCreate(destination: KubeApi, service: ServiceObject, namespace: string): Promise<ServiceProblem | undefined> {
  const copy = replicaCopy(service);
  const body = { ...copy, apiVersion: 'v1', kind: 'Service', metadata: { ...copy.metadata, namespace } };
  const response = await destination.request('POST', `/api/v1/namespaces/${namespace}/services?dryRun=All&fieldManager=${FIELD_MANAGER}`, body);
  return response.status === 200 || response.status === 201 ? undefined : refusal(apiMessage(response.body, response.status));
}

/** Takes the Service's nodePorts for a moment with a real create (the only way to meet the node port range). */
async function tryNodePorts(destination: KubeApi, service: ServiceObject, namespace: string, index: number): Promise<ServiceProblem | undefined> {
  const wanted = new Map<string, { nodePort: number; protocol: string }>();
  for (const p of service.spec?.ports ?? [])
    if (p.nodePort) wanted.set(`${p.nodePort}/${p.protocol ?? 'TCP'}`, { nodePort: p.nodePort, protocol: p.protocol ?? 'TCP' });
  const health = service.spec?.healthCheckNodePort;
  if (health && ![...wanted.values()].some((p) => p.nodePort === health)) wanted.set(`${health}/TCP`, { nodePort: health, protocol: 'TCP' });
  const name = `nodeports-${index}`;
  const ports = [...wanted.values()].map((p, i) => ({ name: `p${i}`, port: 10_000 + i, protocol: p.protocol, nodePort: p.nodePort }));
  const body = { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { type: 'NodePort', ports } };
  const created = await destination.request('POST', `/api/v1/namespaces/${namespace}/services?fieldManager=${FIELD_MANAGER}`, body);
  if (created.status !== 201) return refusal(apiMessage(created.body, created.status));
  await destination.expect('DELETE', `/api/v1/namespaces/${namespace}/services/${name}`, [200, 202, 404]);
  return undefined;
}

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) results[i] = await fn(items[i]!, i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

interface Tally {
  alreadyThere: number;
  dryRuns: number;
  nodePortTries: number;
}

/** What is wrong with one Service in the destination ([] when it fits). */
async function problemsOf(destination: KubeApi, index: DestinationIndex, scratch: ScratchNamespace, service: ServiceObject, i: number, tally: Tally) {
  const plan = planService(service, index);
  if (plan.action === 'already-there') {
    tally.alreadyThere++;
    return [];
  }
  tally.dryRuns++;
  let refused = plan.dryRunIn === 'own' ? await dryRunCreate(destination, service, service.metadata.namespace!) : undefined;
  // The namespace went away (or began to) since it was listed: the scratch namespace answers the same question.
  if (plan.dryRunIn === 'scratch' || NAMESPACE_GONE.test(refused?.text ?? '')) refused = await dryRunCreate(destination, service, await scratch.use());
  const problems = withRefusal(plan.problems, refused);
  if (problems.length > 0 || nodePorts(service).length === 0) return problems;
  tally.nodePortTries++;
  const ports = await tryNodePorts(destination, service, await scratch.use(), i);
  return ports ? [ports] : [];
}

/** Check 3 for a given list of source Services (the command passes movableServices(source)). */
export async function checkServiceIps(services: readonly ServiceObject[], destination: KubeApi): Promise<CheckResult> {
  const index = await readDestination(destination);
  const tally: Tally = { alreadyThere: 0, dryRuns: 0, nodePortTries: 0 };
  const found = await withScratchNamespace(destination, 'services', (scratch) =>
    mapLimited(services, PARALLEL_DRY_RUNS, (service, i) => problemsOf(destination, index, scratch, service, i, tally)),
  );
  const failures = services.flatMap((service, i) => (found[i]!.length > 0 ? [`${serviceId(service)}: ${found[i]!.map((p) => p.text).join('; ')}`] : []));
  if (failures.length > 0) {
    const kinds = new Set<ProblemKind>(found.flat().map((p) => p.kind));
    return {
      check: 'service-ips',
      ok: false,
      detail:
        `${failures.length} of ${services.length} Services of the source cannot be created in the destination with their clusterIPs and nodePorts: ` +
        listCapped(failures),
      fix: fixFor(kinds),
      failures,
    };
  }
  if (services.length === 0) return { check: 'service-ips', ok: true, detail: 'the source has no Services for the synchronizer to copy' };
  const how = [`${tally.alreadyThere} already there`, `${tally.dryRuns} created by dry-run`];
  if (tally.nodePortTries > 0) how.push(`the nodePorts of ${tally.nodePortTries} taken for a moment and released`);
  return {
    check: 'service-ips',
    ok: true,
    detail: `all ${services.length} Services of the source fit the destination with their clusterIPs and nodePorts (${how.join(', ')})`,
  };
}
