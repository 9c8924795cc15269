/**
 * Whether to inject a pod, as a pure function with reason codes (Linkerd's Injectable() idea).
 * The same codes feed logs, the admissions metric's `reason` label and Events on the pod's owner.
 */
import {
  ALWAYS_EXCLUDED_NAMESPACES,
  COMPONENT_LABEL,
  INJECT_ANNOTATION,
  INJECT_LABEL,
  INJECT_LABEL_VALUE,
  MODE_ANNOTATION,
  SIDECAR_NAME,
  STATUS_ANNOTATION,
} from './constants.js';
import { CA_BUNDLE_CONFIGMAP, SIDECAR_TLS_SECRET } from '../lib/names.js';
import { INJECTION_MODES, type InjectionConfig, type InjectionMode } from './injection-config.js';
import type { NamespaceInfo, Pod } from './pod-types.js';

export const InjectReasons = {
  injected: 'the pod was injected',
  reinject: 'the pod carries an injection record: strip and inject again (a no-op when nothing changed)',
  'system-namespace': 'the namespace is a system namespace that is never injected',
  'namespace-not-labelled': `the namespace does not carry ${INJECT_LABEL}=${INJECT_LABEL_VALUE}`,
  'opted-out': `the pod has the annotation ${INJECT_ANNOTATION}: "false"`,
  'own-pod': 'the pod belongs to cluster-bridge itself',
  'mirror-pod': 'the pod is a static (mirror) pod, which the kubelet owns',
  'host-network': 'the pod uses the host network, where a loopback proxy would collide with the node',
  'unsupported-mode': `the ${MODE_ANNOTATION} annotation names a mode other than sidecar or dns`,
  'container-name-conflict': `the pod already has a container named ${SIDECAR_NAME} without an injection record`,
  'no-containers': 'the pod has no containers',
  'injected-namespace-pending': `the pod was injected before its namespace held the ${CA_BUNDLE_CONFIGMAP} ConfigMap (and, in sidecar mode, the ${SIDECAR_TLS_SECRET} Secret); the webhook makes them, and the pod waits in ContainerCreating until they exist`,
} as const;

export type InjectReason = keyof typeof InjectReasons;

/** Reasons worth an Event on the owner: a user asked for injection and something notable happened. */
export const EVENT_REASONS: ReadonlySet<InjectReason> = new Set([
  'injected',
  'host-network',
  'unsupported-mode',
  'container-name-conflict',
  'injected-namespace-pending',
]);

export interface InjectDecision {
  inject: boolean;
  reason: InjectReason;
  mode: InjectionMode;
}

function skip(reason: InjectReason, mode: InjectionMode = 'sidecar'): InjectDecision {
  return { inject: false, reason, mode };
}

/** Why a pod is never injected whatever its own annotations say (namespace, owner, kind of pod), if it is not. */
function neverInjected(pod: Pod, namespace: NamespaceInfo, config: Pick<InjectionConfig, 'excludedNamespaces'>): InjectReason | undefined {
  const excluded: readonly string[] = [...ALWAYS_EXCLUDED_NAMESPACES, ...config.excludedNamespaces];
  if (excluded.includes(namespace.name)) return 'system-namespace';
  if (namespace.labels !== undefined && namespace.labels[INJECT_LABEL] !== INJECT_LABEL_VALUE) return 'namespace-not-labelled';
  if (pod.metadata?.labels?.[COMPONENT_LABEL] !== undefined) return 'own-pod';
  if (pod.metadata?.annotations?.['kubernetes.io/config.mirror'] !== undefined) return 'mirror-pod';
  return undefined;
}

export function shouldInject(pod: Pod, namespace: NamespaceInfo, config: Pick<InjectionConfig, 'excludedNamespaces'>): InjectDecision {
  const never = neverInjected(pod, namespace, config);
  if (never) return skip(never);
  const annotations = pod.metadata?.annotations ?? {};
  if (annotations[INJECT_ANNOTATION]?.trim().toLowerCase() === 'false') return skip('opted-out');

  const rawMode = annotations[MODE_ANNOTATION]?.trim() ?? 'sidecar';
  if (!(INJECTION_MODES as readonly string[]).includes(rawMode)) return skip('unsupported-mode');
  const mode = rawMode as InjectionMode;

  if (pod.spec?.hostNetwork === true) return skip('host-network', mode);
  if (!pod.spec?.containers?.length) return skip('no-containers', mode);
  const injectedBefore = annotations[STATUS_ANNOTATION] !== undefined;
  const ownName = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].some((c) => c?.name === SIDECAR_NAME);
  if (ownName && !injectedBefore) return skip('container-name-conflict', mode);
  return { inject: true, reason: injectedBefore ? 'reinject' : 'injected', mode };
}
