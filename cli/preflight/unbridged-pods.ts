/**
 * Check 6 (a warning, never a failure): pods of labelled source namespaces that run without the bridge
 * (issue 22 item 5). Each is a client that reaches the source directly, which the fence refuses once its
 * shards move. Every one is listed with why (the webhook's own decision for it, or when it was made)
 * and the command that brings it under the bridge.
 */
import { CA_BUNDLE_CONFIGMAP, INJECT_LABEL, INJECT_LABEL_VALUE, SIDECAR_NAME, STATUS_ANNOTATION } from '../../webhook/constants.js';
import { InjectReasons, shouldInject } from '../../webhook/decision.js';
import { defaultInjectionConfig } from '../../webhook/injection-config.js';
import type { Pod } from '../../webhook/pod-types.js';
import type { KubeApi } from './clusters.js';
import { listCapped, type CheckResult } from './report.js';

export interface ListedPod extends Pod {
  metadata: NonNullable<Pod['metadata']> & { name: string; namespace: string; creationTimestamp?: string };
  status?: { phase?: string };
}

export interface UnbridgedPod {
  namespace: string;
  name: string;
  reason: string;
  fix: string;
}

/** What a labelled namespace's pods are judged against: when its CA bundle was made (soon after the label). */
export interface NamespaceFacts {
  bundleCreated?: string;
}

function hasBridge(pod: ListedPod): boolean {
  const record = pod.metadata.annotations?.[STATUS_ANNOTATION];
  if (record === undefined) return false;
  let mode: unknown;
  try {
    mode = (JSON.parse(record) as { mode?: unknown }).mode;
  } catch {
    return false;
  }
  const names = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => c.name);
  return mode === 'dns' || names.includes(SIDECAR_NAME);
}

/** The command that recreates the pod through the webhook, by what owns it (`deployments` for a ReplicaSet of one). */
export function fixCommand(pod: ListedPod, replicaSetOwners: ReadonlyMap<string, string>): string {
  const { namespace, name } = pod.metadata;
  const owner = pod.metadata.ownerReferences?.find((o) => o.controller === true);
  const deployment = owner?.kind === 'ReplicaSet' ? replicaSetOwners.get(`${namespace}/${owner.name}`) : undefined;
  if (deployment) return `kubectl -n ${namespace} rollout restart deployment/${deployment}`;
  if (owner && ['StatefulSet', 'DaemonSet'].includes(owner.kind)) return `kubectl -n ${namespace} rollout restart ${owner.kind.toLowerCase()}/${owner.name}`;
  if (owner) return `kubectl -n ${namespace} delete pod ${name} (its ${owner.kind} ${owner.name} makes a new one)`;
  return `kubectl -n ${namespace} get pod ${name} -o yaml | kubectl replace --force -f -`;
}

/** The pure judgement: every running pod of the labelled namespaces without the bridge, with why and the fix. */
export function unbridgedPods(
  pods: readonly ListedPod[],
  namespaces: ReadonlyMap<string, NamespaceFacts>,
  replicaSetOwners: ReadonlyMap<string, string>,
): UnbridgedPod[] {
  const config = defaultInjectionConfig();
  const out: UnbridgedPod[] = [];
  for (const pod of pods) {
    const { namespace, name, creationTimestamp } = pod.metadata;
    const facts = namespaces.get(namespace);
    if (!facts || ['Succeeded', 'Failed'].includes(pod.status?.phase ?? '') || hasBridge(pod)) continue;
    const decision = shouldInject(pod, { name: namespace, labels: { [INJECT_LABEL]: INJECT_LABEL_VALUE } }, config);
    // The bridge's own pods need none.
    if (!decision.inject && decision.reason === 'own-pod') continue;
    // Timestamps are whole seconds: a pod of the same second as the bundle counts as made before the label.
    let reason: string;
    if (!decision.inject) reason = `${decision.reason}: ${InjectReasons[decision.reason]}`;
    else if (!facts.bundleCreated || (creationTimestamp !== undefined && Date.parse(creationTimestamp) <= Date.parse(facts.bundleCreated)))
      reason = 'created before the namespace was labelled (or before the webhook ran)';
    else reason = "admitted without injection (the webhook unreachable, or it failed: the owner's Events say which)";
    const fix = decision.inject
      ? fixCommand(pod, replicaSetOwners)
      : `change the pod so the webhook injects it (${decision.reason}), then ${fixCommand(pod, replicaSetOwners)}`;
    out.push({ namespace, name, reason, fix });
  }
  return out;
}

interface Owned {
  metadata: { name: string; namespace: string; ownerReferences?: { kind: string; name: string; controller?: boolean }[] };
}

export async function checkUnbridgedPods(source: KubeApi): Promise<CheckResult> {
  const selector = encodeURIComponent(`${INJECT_LABEL}=${INJECT_LABEL_VALUE}`);
  const labelled = (await source.expect<{ items: { metadata: { name: string } }[] }>('GET', `/api/v1/namespaces?labelSelector=${selector}`, [200])).body.items;
  const namespaces = new Map<string, NamespaceFacts>();
  const pods: ListedPod[] = [];
  const replicaSetOwners = new Map<string, string>();
  for (const { metadata } of labelled) {
    const ns = metadata.name;
    const bundle = await source.request<{ metadata?: { creationTimestamp?: string } }>('GET', `/api/v1/namespaces/${ns}/configmaps/${CA_BUNDLE_CONFIGMAP}`);
    namespaces.set(ns, { bundleCreated: bundle.status === 200 ? bundle.body.metadata?.creationTimestamp : undefined });
    pods.push(...(await source.expect<{ items: ListedPod[] }>('GET', `/api/v1/namespaces/${ns}/pods`, [200])).body.items);
    for (const rs of (await source.expect<{ items: Owned[] }>('GET', `/apis/apps/v1/namespaces/${ns}/replicasets`, [200])).body.items) {
      const deployment = rs.metadata.ownerReferences?.find((o) => o.controller === true && o.kind === 'Deployment');
      if (deployment) replicaSetOwners.set(`${ns}/${rs.metadata.name}`, deployment.name);
    }
  }
  const found = unbridgedPods(pods, namespaces, replicaSetOwners);
  if (found.length === 0)
    return { check: 'unbridged-pods', ok: true, detail: `every running pod of the ${labelled.length} labelled namespaces runs with the bridge` };
  const lines = found.map((p) => `${p.namespace}/${p.name}: ${p.reason}; fix: ${p.fix}`);
  return {
    check: 'unbridged-pods',
    ok: true,
    warning: true,
    detail: `${found.length} pods of labelled namespaces run without the bridge (the fence refuses them once their shards move): ${listCapped(lines)}`,
    failures: lines,
  };
}
