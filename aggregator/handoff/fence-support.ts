/**
 * Whether the source API server can enforce the fence (fencing.ts writes an
 * admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy, served from Kubernetes 1.30 on). Where it
 * cannot, a shard moved to the destination could be forked by any writer on the source, so no hand-off
 * to the destination starts (issue 21); the reason is recorded in the destination's ConfigMap
 * FENCE_STATUS_CONFIGMAP for `bridgectl status`.
 */
import { BridgeError } from '../../lib/errors.js';
import type { KubeRestClient } from '../../lib/kube/rest-client.js';
import { discoveryAt } from '../../lib/kube/kind-discovery.js';
import { FENCE_STATUS_CONFIGMAP, FIELD_MANAGER, MANAGED_BY_LABEL, SYSTEM_NAMESPACE } from '../../lib/names.js';
import { parseMinor, type VersionInfo } from '../../lib/kube/version.js';

export type FenceSupport = { enforceable: true; sourceVersion: string } | { enforceable: false; sourceVersion: string; reason: string };

/** The first Kubernetes minor release that serves ValidatingAdmissionPolicy in admissionregistration.k8s.io/v1. */
export const FENCE_MIN_MINOR = 30;

/** Decides from the source's /version and whether it serves the v1 policy API (pure, for tests). */
export function decideFenceSupport(version: VersionInfo, servesPolicies: boolean): FenceSupport {
  const sourceVersion = version.gitVersion ?? `${version.major ?? '?'}.${version.minor ?? '?'}`;
  const parsed = parseMinor(version);
  if (parsed && parsed.major === 1 && parsed.minor < FENCE_MIN_MINOR)
    return {
      enforceable: false,
      sourceVersion,
      reason: `the source runs Kubernetes ${sourceVersion}; the fence needs admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy (Kubernetes 1.${FENCE_MIN_MINOR} or later)`,
    };
  if (!servesPolicies)
    return {
      enforceable: false,
      sourceVersion,
      reason: `the source (Kubernetes ${sourceVersion}) does not serve admissionregistration.k8s.io/v1 validatingadmissionpolicies (the API or its admission plugin is off)`,
    };
  return { enforceable: true, sourceVersion };
}

/** 404 is "not served"; any other failure throws: a source briefly unable to answer is not a source that cannot fence. */
export async function servesValidatingAdmissionPolicies(source: Pick<KubeRestClient, 'request'>): Promise<boolean> {
  const list = await discoveryAt<{ resources?: { name: string }[] }>(source, '/apis/admissionregistration.k8s.io/v1');
  return (list?.resources ?? []).some((r) => r.name === 'validatingadmissionpolicies');
}

export async function probeFenceSupport(source: KubeRestClient): Promise<FenceSupport> {
  const version = await source.expect<VersionInfo>('GET', '/version', [200]);
  return decideFenceSupport(version.body, await servesValidatingAdmissionPolicies(source));
}

export function fenceUnenforceable(support: Extract<FenceSupport, { enforceable: false }>, shard: string): BridgeError {
  return new BridgeError('BRIDGE_ERR_FENCE_UNENFORCEABLE', `shard ${shard} cannot move to the destination: ${support.reason}`);
}

const STATUS_COLLECTION = `/api/v1/namespaces/${SYSTEM_NAMESPACE}/configmaps`;

/** Records the answer for `bridgectl status` (the aggregator's own namespace in the destination). */
export async function recordFenceSupport(destination: KubeRestClient, support: FenceSupport): Promise<void> {
  const data: Record<string, string> = { enforceable: String(support.enforceable), sourceVersion: support.sourceVersion };
  if (!support.enforceable) data.reason = support.reason;
  await destination.createOrReplace<{ metadata?: { resourceVersion?: string }; data?: Record<string, string> }>(
    STATUS_COLLECTION,
    FENCE_STATUS_CONFIGMAP,
    (current) =>
      JSON.stringify(current?.data ?? {}) === JSON.stringify(data)
        ? undefined
        : { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: FENCE_STATUS_CONFIGMAP, labels: { [MANAGED_BY_LABEL]: FIELD_MANAGER } }, data },
  );
}

/** What `bridgectl status` prints: undefined when the fence can be enforced or nothing was recorded. */
export async function readFenceProblem(destination: KubeRestClient): Promise<string | undefined> {
  const got = await destination.request<{ data?: Record<string, string> }>('GET', `${STATUS_COLLECTION}/${FENCE_STATUS_CONFIGMAP}`);
  if (got.status !== 200 || got.body.data?.enforceable !== 'false') return undefined;
  return got.body.data.reason ?? 'the source cannot enforce the fence';
}

/** The status line of an unenforceable fence (`bridgectl status`, `bridgectl aggregator status`). */
export function fenceLine(problem: string): string {
  return `fence: NOT ENFORCEABLE, no shard moves to the destination (BRIDGE_ERR_FENCE_UNENFORCEABLE): ${problem}`;
}
