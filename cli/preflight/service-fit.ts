/**
 * Pure decisions of check 3 (service IPs and nodePorts): which source Services the destination already
 * holds as the synchronizer's copy, and which of a Service's clusterIPs and nodePorts another Service of
 * the destination already holds. A server-side dry-run cannot tell the latter: kube-apiserver checks a
 * dry-run's clusterIP against the range but never whether it is free ("racy and not worth the effort",
 * pkg/registry/core/service/ipallocator), so the destination's Services are compared here.
 */
import type { KubeObject } from '../../lib/kube/types.js';

export interface ServicePort {
  name?: string;
  port: number;
  protocol?: string;
  nodePort?: number;
}

export type ServiceObject = KubeObject & {
  spec?: { type?: string; clusterIP?: string; clusterIPs?: string[]; ports?: ServicePort[]; healthCheckNodePort?: number };
};

/** Why a Service does not fit; each kind has its own fix. */
export type ProblemKind = 'name-taken' | 'ip-taken' | 'port-taken' | 'refused';

export interface ServiceProblem {
  kind: ProblemKind;
  text: string;
}

export const serviceId = (service: ServiceObject) => `${service.metadata.namespace ?? ''}/${service.metadata.name}`;

/** The IPs a Service holds (none for headless and ExternalName Services). */
export function clusterIps(service: ServiceObject): string[] {
  const spec = service.spec ?? {};
  const ips = spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  return ips.filter((ip) => ip !== '' && ip !== 'None');
}

/** The node ports a Service holds: its ports' and the health check's. */
export function nodePorts(service: ServiceObject): number[] {
  const ports = (service.spec?.ports ?? []).map((p) => p.nodePort ?? 0);
  return [...new Set([...ports, service.spec?.healthCheckNodePort ?? 0])].filter((port) => port > 0);
}

export interface DestinationIndex {
  byId: Map<string, ServiceObject>;
  ipHolders: Map<string, string>;
  portHolders: Map<number, string>;
  /** Namespaces that exist and are not being deleted (a create there would be refused). */
  namespaces: Set<string>;
}

export function indexDestination(services: readonly ServiceObject[], namespaces: readonly string[]): DestinationIndex {
  const index: DestinationIndex = { byId: new Map(), ipHolders: new Map(), portHolders: new Map(), namespaces: new Set(namespaces) };
  for (const service of services) {
    const id = serviceId(service);
    index.byId.set(id, service);
    for (const ip of clusterIps(service)) index.ipHolders.set(ip, id);
    for (const port of nodePorts(service)) index.portHolders.set(port, id);
  }
  return index;
}

export type ServicePlan =
  /** Same namespace/name and clusterIP in the destination: the synchronizer's copy; nothing to prove. */
  | { action: 'already-there' }
  /** Known problems, and where a dry-run create can go: the Service's own namespace, or a scratch one. */
  | { action: 'check'; problems: ServiceProblem[]; dryRunIn: 'own' | 'scratch' };

export function planService(service: ServiceObject, destination: DestinationIndex): ServicePlan {
  const id = serviceId(service);
  const existing = destination.byId.get(id);
  if (existing && existing.spec?.clusterIP === service.spec?.clusterIP) return { action: 'already-there' };
  const problems: ServiceProblem[] = [];
  if (existing) {
    const theirs = existing.spec?.clusterIP ?? 'none';
    problems.push({ kind: 'name-taken', text: `exists in the destination with clusterIP ${theirs}, not the source's ${service.spec?.clusterIP ?? 'none'}` });
  }
  for (const ip of clusterIps(service)) {
    const holder = destination.ipHolders.get(ip);
    if (holder && holder !== id) problems.push({ kind: 'ip-taken', text: `clusterIP ${ip} is taken in the destination by Service ${holder}` });
  }
  for (const port of nodePorts(service)) {
    const holder = destination.portHolders.get(port);
    if (holder && holder !== id) problems.push({ kind: 'port-taken', text: `nodePort ${port} is taken in the destination by Service ${holder}` });
  }
  const ownNamespace = !existing && destination.namespaces.has(service.metadata.namespace ?? '');
  return { action: 'check', problems, dryRunIn: ownNamespace ? 'own' : 'scratch' };
}

const FIXES: Record<ProblemKind, string> = {
  'name-taken': "delete the destination's Services of the same name and another clusterIP (the synchronizer recreates them with the source's)",
  'ip-taken': "delete or recreate the destination Services that hold the source's clusterIPs",
  'port-taken': "delete or change the destination Services that hold the source's nodePorts",
  refused:
    "run the destination's kube-apiserver with a --service-cluster-ip-range that contains the source's clusterIPs and the source's --service-node-port-range",
};

/** One fix per kind of problem found, in a fixed order. */
export function fixFor(kinds: ReadonlySet<ProblemKind>): string {
  return (Object.keys(FIXES) as ProblemKind[])
    .filter((kind) => kinds.has(kind))
    .map((kind) => FIXES[kind])
    .join('; ');
}

/** What an API server's refusal of a create means: a value another object holds, or one the destination does not allow. */
export function refusal(message: string): ServiceProblem {
  const kind: ProblemKind = /port is already allocated/.test(message) ? 'port-taken' : /IP.* is already allocated/.test(message) ? 'ip-taken' : 'refused';
  return { kind, text: message };
}

/**
 * The problems to report: those found by comparison name the holder, so an API server's refusal of the
 * same kind adds nothing.
 */
export function withRefusal(found: readonly ServiceProblem[], refused: ServiceProblem | undefined): ServiceProblem[] {
  if (!refused || found.some((p) => p.kind === refused.kind)) return [...found];
  return [...found, refused];
}

/** A kube-apiserver message without the object's name, which the report names itself. */
export function apiMessage(body: unknown, status: number): string {
  const message = (body as { message?: unknown } | undefined)?.message;
  if (typeof message !== 'string') return `HTTP ${status}`;
  return message.replace(/^Service "[^"]*" is invalid: /, '').replace(/spec\.ports\[\d+\]\.nodePort/g, 'nodePort');
}
