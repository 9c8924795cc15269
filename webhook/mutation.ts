/**
 * Builds the injected pod from a deep copy (Istio's approach), records what was injected in the status
 * annotation, and can strip a previous injection so reinvocation and upgrades converge on the same result.
 */
import {
  CA_BUNDLE_CONFIGMAP,
  KUBE_ROOT_CA_CONFIGMAP,
  KUBERNETES_SERVICE_HOST_NAME,
  KUBERNETES_SERVICE_NAMES,
  SIDECAR_HOST,
  SIDECAR_NAME,
  SIDECAR_PORT,
  SIDECAR_TLS_VOLUME,
  STATUS_ANNOTATION,
} from './constants.js';
import { isIpAddress, type InjectionConfig, type InjectionMode, type SidecarStyle } from './injection-config.js';
import type { Container, EnvVar, HostAlias, Pod } from './pod-types.js';
import { sidecarContainer, sidecarTlsVolume } from './sidecar-container.js';

/** The `cluster-bridge.io/status` annotation: exactly what the webhook added or changed. */
export interface InjectionStatus {
  version: string;
  mode: InjectionMode;
  sidecarStyle?: SidecarStyle;
  initContainers: string[];
  containers: string[];
  volumes: string[];
  /** Variables set (overriding any value the pod had) on every container listed in envContainers. */
  env: string[];
  envContainers: string[];
  /** Projected volumes whose ca.crt now comes from cluster-bridge-ca-bundle instead of kube-root-ca.crt. */
  caBundleVolumes: string[];
  hostAliases: HostAlias[];
}

/** Every variable the kubelet derives from the `kubernetes` Service, pointed somewhere else. */
export function serviceEnv(host: string, port: number): EnvVar[] {
  const p = String(port);
  return [
    { name: 'KUBERNETES_SERVICE_HOST', value: host },
    { name: 'KUBERNETES_SERVICE_PORT', value: p },
    { name: 'KUBERNETES_SERVICE_PORT_HTTPS', value: p },
    { name: 'KUBERNETES_PORT', value: `tcp://${host}:${p}` },
    { name: 'KUBERNETES_PORT_443_TCP', value: `tcp://${host}:${p}` },
    { name: 'KUBERNETES_PORT_443_TCP_PROTO', value: 'tcp' },
    { name: 'KUBERNETES_PORT_443_TCP_PORT', value: p },
    { name: 'KUBERNETES_PORT_443_TCP_ADDR', value: host },
  ];
}

const SERVICE_ENV_NAMES = new Set(serviceEnv('x', 1).map((e) => e.name));

export function parseStatus(raw: string | undefined): InjectionStatus | undefined {
  if (raw === undefined) return undefined;
  try {
    const parsed = JSON.parse(raw) as InjectionStatus;
    return typeof parsed === 'object' && parsed !== null ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Overrides existing entries of the same names; ours go first so later $(VAR) references see them. */
function withEnv(container: Container, env: EnvVar[]): void {
  const names = new Set(env.map((e) => e.name));
  container.env = [...env.map((e) => ({ ...e })), ...(container.env ?? []).filter((e) => !names.has(e?.name))];
}

function repointProjectedCa(pod: Pod, from: string, to: string): string[] {
  const changed: string[] = [];
  for (const volume of pod.spec?.volumes ?? []) {
    for (const source of volume?.projected?.sources ?? []) {
      if (source?.configMap?.name === from) {
        source.configMap.name = to;
        if (!changed.includes(volume.name)) changed.push(volume.name);
      }
    }
  }
  return changed;
}

/** `list` without what `drop` matches, or undefined when nothing is left (so an optional field disappears). */
function remaining<T>(list: T[], drop: (item: T) => boolean): T[] | undefined {
  const kept = list.filter((item) => !drop(item));
  return kept.length > 0 ? kept : undefined;
}

/**
 * Removes a previous injection by what the bridge injects, never by what the record says: the pod's
 * author writes the annotation too, and a forged record listing the author's own container, volume or
 * variable removed it (issue 21). The one container and volume have reserved names, the variables are
 * the `kubernetes` Service's; a host alias goes only when the record names it and it maps exactly the
 * API server's names, which the bridge would override anyway.
 */
export function stripInjection(pod: Pod): Pod {
  const copy = structuredClone(pod);
  const spec = copy.spec;
  const annotations = copy.metadata?.annotations;
  const status = parseStatus(annotations?.[STATUS_ANNOTATION]);
  if (annotations) delete annotations[STATUS_ANNOTATION];
  if (!spec) return copy;
  spec.containers = (spec.containers ?? []).filter((c) => c?.name !== SIDECAR_NAME);
  if (spec.initContainers) spec.initContainers = remaining(spec.initContainers, (c) => c?.name === SIDECAR_NAME);
  if (!spec.initContainers) delete spec.initContainers;
  if (spec.volumes) spec.volumes = spec.volumes.filter((v) => v?.name !== SIDECAR_TLS_VOLUME);
  stripEnv([...spec.containers, ...(spec.initContainers ?? [])], SERVICE_ENV_NAMES);
  repointProjectedCa(copy, CA_BUNDLE_CONFIGMAP, KUBE_ROOT_CA_CONFIGMAP);
  stripHostAliases(spec, Array.isArray(status?.hostAliases) ? status.hostAliases.filter(isBridgeAlias) : []);
  return copy;
}

/** The only host alias the bridge adds (dns mode with an aggregator IP): the API server's names, nothing else. */
function isBridgeAlias(alias: HostAlias): boolean {
  const names = alias?.hostnames;
  return Array.isArray(names) && names.length === KUBERNETES_SERVICE_NAMES.length && KUBERNETES_SERVICE_NAMES.every((n, i) => names[i] === n);
}

function stripHostAliases(spec: NonNullable<Pod['spec']>, ours: HostAlias[]): void {
  if (!spec.hostAliases || ours.length === 0) return;
  const keys = new Set(ours.map((a) => JSON.stringify(a)));
  spec.hostAliases = remaining(spec.hostAliases, (a) => keys.has(JSON.stringify(a)));
  if (!spec.hostAliases) delete spec.hostAliases;
}

function stripEnv(containers: Container[], names: Set<string>): void {
  for (const container of containers) {
    if (!container.env) continue;
    container.env = remaining(container.env, (e) => names.has(e?.name));
    if (!container.env) delete container.env;
  }
}

function emptyStatus(config: InjectionConfig, mode: InjectionMode): InjectionStatus {
  return { version: config.version, mode, initContainers: [], containers: [], volumes: [], env: [], envContainers: [], caBundleVolumes: [], hostAliases: [] };
}

function injectSidecar(pod: Pod, config: InjectionConfig, status: InjectionStatus): void {
  const spec = pod.spec!;
  const style = config.sidecarStyle;
  status.sidecarStyle = style;
  const proxy = sidecarContainer(config, style);
  const env = serviceEnv(SIDECAR_HOST, SIDECAR_PORT);
  // Without native sidecars the app's init containers run before the proxy exists: leave them on the real API.
  const targets = [...spec.containers, ...(style === 'native' ? (spec.initContainers ?? []) : [])];
  for (const container of targets) withEnv(container, env);
  status.env = env.map((e) => e.name);
  status.envContainers = targets.map((c) => c.name);
  if (style === 'native') {
    spec.initContainers = [proxy, ...(spec.initContainers ?? [])];
    status.initContainers.push(SIDECAR_NAME);
  } else {
    spec.containers = [proxy, ...spec.containers];
    status.containers.push(SIDECAR_NAME);
  }
  spec.volumes = [...(spec.volumes ?? []), sidecarTlsVolume(config)];
  status.volumes.push(SIDECAR_TLS_VOLUME);
}

/** dns mode: no proxy; the pod talks to the aggregator directly, by /etc/hosts when its address is an IP. */
function injectDns(pod: Pod, config: InjectionConfig, status: InjectionStatus): void {
  const spec = pod.spec!;
  const { host, port } = config.upstream;
  let envHost = host;
  if (isIpAddress(host)) {
    // Keep a name the aggregator's certificate carries, and resolve it to the aggregator.
    envHost = KUBERNETES_SERVICE_HOST_NAME;
    const alias: HostAlias = { ip: host, hostnames: [...KUBERNETES_SERVICE_NAMES] };
    spec.hostAliases = [...(spec.hostAliases ?? []), alias];
    status.hostAliases.push(alias);
  }
  const env = serviceEnv(envHost, port);
  const targets = [...(spec.initContainers ?? []), ...spec.containers];
  for (const container of targets) withEnv(container, env);
  status.env = env.map((e) => e.name);
  status.envContainers = targets.map((c) => c.name);
}

/** True when every field of `ours` is present and equal in `theirs`, which may hold more (server defaults). */
export function isSubset(ours: unknown, theirs: unknown): boolean {
  if (Array.isArray(ours)) return Array.isArray(theirs) && ours.length === theirs.length && ours.every((o, i) => isSubset(o, theirs[i]));
  if (typeof ours === 'object' && ours !== null) {
    if (typeof theirs !== 'object' || theirs === null || Array.isArray(theirs)) return false;
    return Object.entries(ours).every(([k, v]) => isSubset(v, (theirs as Record<string, unknown>)[k]));
  }
  return ours === theirs;
}

/**
 * On reinvocation the API server has defaulted what we added (terminationMessagePath, probe thresholds,
 * secret defaultMode...). Keep the existing object when it already holds everything we would add, so a
 * re-injection of an up-to-date pod is an empty patch.
 */
function keepDefaulted(original: Pod, injected: Pod): void {
  const spec = injected.spec!;
  const before = original.spec;
  for (const field of ['initContainers', 'containers'] as const) {
    const list = spec[field];
    if (!list) continue;
    spec[field] = list.map((c) => {
      if (c.name !== SIDECAR_NAME) return c;
      const existing = before?.[field]?.find((o) => o?.name === SIDECAR_NAME);
      return existing && isSubset(c, existing) ? structuredClone(existing) : c;
    }) as Container[];
  }
  if (spec.volumes) {
    spec.volumes = spec.volumes.map((v) => {
      if (v.name !== SIDECAR_TLS_VOLUME) return v;
      const existing = before?.volumes?.find((o) => o?.name === SIDECAR_TLS_VOLUME);
      return existing && isSubset(v, existing) ? structuredClone(existing) : v;
    });
  }
}

/** Returns the injected copy; the input is never modified. Injecting an injected pod yields the same pod. */
export function injectPod(pod: Pod, mode: InjectionMode, config: InjectionConfig): Pod {
  const copy = stripInjection(pod);
  if (!copy.spec?.containers?.length) return copy;
  const status = emptyStatus(config, mode);
  if (mode === 'sidecar') injectSidecar(copy, config, status);
  else injectDns(copy, config, status);
  status.caBundleVolumes = repointProjectedCa(copy, KUBE_ROOT_CA_CONFIGMAP, CA_BUNDLE_CONFIGMAP);
  copy.metadata ??= {};
  copy.metadata.annotations = { ...(copy.metadata.annotations ?? {}), [STATUS_ANNOTATION]: JSON.stringify(status) };
  if (pod.metadata?.annotations?.[STATUS_ANNOTATION] !== undefined) keepDefaulted(pod, copy);
  return copy;
}
