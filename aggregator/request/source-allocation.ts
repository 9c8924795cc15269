/**
 * Which creates need values only the source may choose, and how those values are carried to the
 * destination's copy (DESIGN.md section 3, patent 0094-0095). Pods run in the source, so a Service's
 * ClusterIP must come from the source's service range (its kube-proxy routes it) and its nodePorts
 * must be free on the source's nodes; a destination-chosen value can be outside that range or taken.
 * Names from generateName are not here: a name has no locality, and the synchronizer copies the
 * destination's choice to the source under the same name.
 */
import { parse as parseYaml } from 'yaml';
import type { KubeObject } from '../../lib/kube/types.js';
import type { RequestInfo } from '../../lib/routing/types.js';

interface ServicePort {
  port?: number;
  protocol?: string;
  nodePort?: number;
  [key: string]: unknown;
}

interface ServiceSpec {
  clusterIP?: string;
  clusterIPs?: string[];
  ipFamilies?: string[];
  ipFamilyPolicy?: string;
  healthCheckNodePort?: number;
  ports?: ServicePort[];
  [key: string]: unknown;
}

/** The content type of a server-side apply (`kubectl apply --server-side`, client-go's Apply). */
export const APPLY_PATCH_YAML = 'application/apply-patch+yaml';

/**
 * How a request may make the API server allocate for a core Service (not a subresource, not a dry
 * run), which the source must then do: a POST, a server-side apply of a name that may not exist yet,
 * or an update (PUT or another patch) that may change its type or ports (which ones do, only the
 * owner's dry run tells). `url` is the request's path and query; the query is read only for these.
 */
export function sourceAllocatingWrite(info: RequestInfo, url: string, contentType: string): 'create' | 'apply' | 'update' | undefined {
  if (info.subresource !== '' || info.apiGroup !== '' || info.resource !== 'services') return undefined;
  const write =
    info.verb === 'create'
      ? 'create'
      : info.verb === 'patch' && contentType.startsWith(APPLY_PATCH_YAML)
        ? 'apply'
        : (info.verb === 'update' || info.verb === 'patch') && contentType.includes('json')
          ? 'update'
          : undefined;
  if (!write) return undefined;
  const q = url.indexOf('?');
  return q >= 0 && new URLSearchParams(url.slice(q + 1)).has('dryRun') ? undefined : write;
}

/**
 * A JSON (or, for an apply, YAML) object body with metadata, as a create must have; anything else is
 * left to the API server to refuse.
 */
export function parseCreateBody(body: Buffer, yaml = false): KubeObject | undefined {
  try {
    const text = body.toString('utf8');
    const parsed = (yaml ? parseYaml(text) : JSON.parse(text)) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
    const metadata = (parsed as { metadata?: unknown }).metadata;
    return typeof metadata === 'object' && metadata !== null ? (parsed as KubeObject) : undefined;
  } catch {
    return undefined;
  }
}

/** The values an API server allocated for a Service: its ClusterIPs, nodePorts and healthCheckNodePort. */
function allocatedValues(object: KubeObject): string[] {
  const spec = (object.spec ?? {}) as ServiceSpec;
  const ips = (spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : [])).filter((ip) => ip && ip !== 'None');
  const ports = (spec.ports ?? []).flatMap((p) => (p.nodePort ? [`nodePort ${p.nodePort}`] : []));
  return [...ips.map((ip) => `ip ${ip}`), ...ports, ...(spec.healthCheckNodePort ? [`healthCheckNodePort ${spec.healthCheckNodePort}`] : [])];
}

/** Whether `after` (an update's result) holds an allocated value `before` did not: the update allocates. */
export function newlyAllocated(before: KubeObject, after: KubeObject): boolean {
  const had = new Set(allocatedValues(before));
  return allocatedValues(after).some((value) => !had.has(value));
}

/** A Service port's identity (what server-side apply merges its ports by): its number and protocol. */
const samePort = (a: ServicePort, b: ServicePort) => a.port === b.port && (a.protocol ?? 'TCP') === (b.protocol ?? 'TCP');

/**
 * The client's object with the values the source allocated: its name, ClusterIP(s), IP families and policy,
 * nodePorts (each port's from the source's port of the same number and protocol: an apply may list only
 * some of the object's ports, in its own order; by position if none matches) and healthCheckNodePort.
 * The client's own values are kept where the source left them unset.
 */
export function withSourceAllocation(requested: KubeObject, allocated: KubeObject): KubeObject {
  const from = (allocated.spec ?? {}) as ServiceSpec;
  const spec: ServiceSpec = { ...((requested.spec ?? {}) as ServiceSpec) };
  if (from.clusterIP !== undefined) spec.clusterIP = from.clusterIP;
  if (from.clusterIPs !== undefined) spec.clusterIPs = [...from.clusterIPs];
  if (from.ipFamilies !== undefined) spec.ipFamilies = [...from.ipFamilies];
  if (from.ipFamilyPolicy !== undefined) spec.ipFamilyPolicy = from.ipFamilyPolicy;
  if (from.healthCheckNodePort !== undefined) spec.healthCheckNodePort = from.healthCheckNodePort;
  if (spec.ports && from.ports) {
    const sourcePorts = from.ports;
    spec.ports = spec.ports.map((port, i) => {
      const nodePort = (sourcePorts.find((p) => samePort(p, port)) ?? sourcePorts[i])?.nodePort;
      return nodePort === undefined ? { ...port } : { ...port, nodePort };
    });
  }
  // generateName: the name is the source's choice too.
  return { ...requested, metadata: { ...requested.metadata, name: allocated.metadata.name }, spec };
}
