/**
 * Which creates need values only the source may choose, and how those values are carried to the
 * destination's copy (DESIGN.md section 3, patent 0094-0095). Pods run in the source, so a Service's
 * ClusterIP must come from the source's service range (its kube-proxy routes it) and its nodePorts
 * must be free on the source's nodes; a destination-chosen value can be outside that range or taken.
 * Names from generateName are not here: a name has no locality, and the synchronizer copies the
 * destination's choice to the source under the same name.
 */
import type { KubeObject } from '../lib/mirror-copy.js';
import type { RequestInfo } from '../lib/routing/types.js';

interface ServicePort {
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

/**
 * A create of a core Service (not a subresource, not a dry run): the source allocates its IPs and
 * ports. `url` is the request's path and query; the query is read only for a Service create.
 */
export function needsSourceAllocation(info: RequestInfo, url: string): boolean {
  if (info.verb !== 'create' || info.subresource !== '' || info.apiGroup !== '' || info.resource !== 'services') return false;
  const q = url.indexOf('?');
  return q < 0 || !new URLSearchParams(url.slice(q + 1)).has('dryRun');
}

/** A JSON object body with metadata, as a create must have; anything else is left to the API server to refuse. */
export function parseCreateBody(body: Buffer): KubeObject | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
    const metadata = (parsed as { metadata?: unknown }).metadata;
    return typeof metadata === 'object' && metadata !== null ? (parsed as KubeObject) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The client's object with the values the source allocated: its name, ClusterIP(s), IP families and policy,
 * nodePorts (ports keep the client's order, which the API server preserves) and healthCheckNodePort.
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
    spec.ports = spec.ports.map((port, i) => {
      const nodePort = from.ports![i]?.nodePort;
      return nodePort === undefined ? { ...port } : { ...port, nodePort };
    });
  }
  // generateName: the name is the source's choice too.
  return { ...requested, metadata: { ...requested.metadata, name: allocated.metadata.name }, spec };
}
