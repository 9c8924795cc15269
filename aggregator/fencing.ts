/**
 * Fencing on the source (DESIGN.md section 3): once a shard belongs to the destination, the source
 * API server itself refuses writes to it from everyone but the bridge and the cluster's own
 * controllers, so a stale sidecar, an uninjected pod or a person with kubectl on the source cannot
 * fork the state. A ValidatingAdmissionPolicy generated from the routing table, applied at each
 * hand-off: before writes are released when a shard moves to the destination, after when it returns.
 */
import { BridgeError } from '../lib/errors.js';
import type { KubeRestClient } from '../lib/kube-rest-client.js';
import { FIELD_MANAGER, SYSTEM_NAMESPACE, SYSTEM_NAMESPACES } from '../lib/names.js';
import { parseShardKey } from '../lib/routing/shard-hash.js';
import type { RoutingTable } from '../lib/routing/types.js';
import { FENCE_NAME, FENCE_REFUSAL_TEXT } from '../lib/routing/fence-message.js';

export { FENCE_NAME };

/**
 * Who may still write a fenced shard on the source: the bridge's own components (service accounts
 * of its namespace; the synchronizer mirrors the destination's changes back) and the source's own
 * control plane (the root CA publisher, the namespace controller and the garbage collector act on the
 * source's copies).
 */
export const FENCE_EXEMPT_EXPRESSION = [
  `request.userInfo.username.startsWith('system:serviceaccount:${SYSTEM_NAMESPACE}:')`,
  `request.userInfo.username.startsWith('system:serviceaccount:kube-system:')`,
  `request.userInfo.username in ['system:kube-controller-manager', 'system:apiserver']`,
].join(' || ');

/** Destination-owned shards, in a stable order (the policy only changes when the owners do). */
export function fencedShards(table: RoutingTable): string[] {
  return Object.values(table.shards)
    .filter((s) => s.owner === 'destination' || s.handoff?.to === 'destination')
    .map((s) => s.shard)
    .sort();
}

/**
 * With nothing fenced the policy stays, matching a resource no API serves: updating one policy and
 * waiting for the API server to observe its generation works alike in both directions, where a
 * deleted policy would leave no generation to wait for.
 */
const INERT_RULE = { apiGroups: ['cluster-bridge.io'], apiVersions: ['*'], operations: ['CREATE'], resources: ['fence-inert'] };

export function fencePolicy(shards: string[]): { policy: object; binding: object } {
  const resourceRules = shards.map((shard) => {
    const { group, resource } = parseShardKey(shard);
    return { apiGroups: [group], apiVersions: ['*'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: [resource] };
  });
  if (resourceRules.length === 0) resourceRules.push(INERT_RULE);
  const policy = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: FENCE_NAME, labels: { 'app.kubernetes.io/managed-by': FIELD_MANAGER } },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: {
        resourceRules,
        // Each cluster's machinery is never moved (cluster-scoped shards are matched regardless).
        namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...SYSTEM_NAMESPACES] }] },
      },
      validations: [
        {
          expression: FENCE_EXEMPT_EXPRESSION,
          messageExpression: `request.resource.resource + (request.resource.group == '' ? '' : '.' + request.resource.group) + ' ${FENCE_REFUSAL_TEXT}'`,
          reason: 'Forbidden',
        },
      ],
    },
  };
  const binding = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: FENCE_NAME, labels: { 'app.kubernetes.io/managed-by': FIELD_MANAGER } },
    spec: { policyName: FENCE_NAME, validationActions: ['Deny'] },
  };
  return { policy, binding };
}

const POLICY_PATH = `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${FENCE_NAME}`;
const BINDING_PATH = `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/${FENCE_NAME}`;
const APPLY = `?fieldManager=${FIELD_MANAGER}&force=true`;

const ENFORCE_TIMEOUT_MS = 10_000;
/** A member of system:masters that is not exempt: what the fence must stop (impersonated by the aggregator). */
const PROBE_IDENTITY = { 'Impersonate-User': 'cluster-bridge:fence-probe', 'Impersonate-Group': 'system:masters' };

/** The API path of one existing object of the shard outside the system namespaces, if any. */
async function probeTarget(source: KubeRestClient, shard: string): Promise<string | undefined> {
  const { group, resource } = parseShardKey(shard);
  let prefix = '/api/v1';
  if (group) {
    const found = await source.request<{ preferredVersion?: { groupVersion?: string } }>('GET', `/apis/${group}`);
    if (found.status !== 200 || !found.body.preferredVersion?.groupVersion) return undefined;
    prefix = `/apis/${found.body.preferredVersion.groupVersion}`;
  }
  const list = await source.request<{ items?: { metadata: { name: string; namespace?: string } }[] }>('GET', `${prefix}/${resource}?limit=100`);
  const item = list.body.items?.find((i) => !i.metadata.namespace || !(SYSTEM_NAMESPACES as readonly string[]).includes(i.metadata.namespace));
  if (!item) return undefined;
  const ns = item.metadata.namespace ? `/namespaces/${encodeURIComponent(item.metadata.namespace)}` : '';
  return `${prefix}${ns}/${resource}/${encodeURIComponent(item.metadata.name)}`;
}

/**
 * Whether the source enforces the fence for a shard right now: a server-side dry-run delete of one of
 * its objects (nothing is deleted) by a non-exempt identity is denied by the fence, or not.
 */
async function fenceEnforced(source: KubeRestClient, path: string): Promise<boolean | undefined> {
  const answer = await source.request<{ message?: string }>('DELETE', `${path}?dryRun=All`, undefined, { headers: PROBE_IDENTITY });
  if (answer.status === 403 && answer.body.message?.includes(FENCE_NAME)) return true;
  if (answer.status === 200 || answer.status === 202) return false;
  return undefined; // gone meanwhile, or no permission to probe: nothing to wait for
}

/**
 * Makes the source's fence match the table and, for the shard changing owner, waits until the source
 * enforces it (or stops enforcing it), so writes are released only then. A shard with no object to
 * probe has nothing a stale writer could change but creates; its wait ends at once.
 */
export async function applyFence(source: KubeRestClient, table: RoutingTable, changing?: string): Promise<string[] | 'unsupported'> {
  const shards = fencedShards(table);
  const { policy, binding } = fencePolicy(shards);
  const applied = await source.request<{ message?: string }>('PATCH', POLICY_PATH + APPLY, policy, { patchType: 'apply' });
  // admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy is served from Kubernetes 1.30 on.
  if (applied.status === 404 && !(await servesValidatingAdmissionPolicies(source))) return 'unsupported';
  if (applied.status !== 200 && applied.status !== 201)
    throw new BridgeError('BRIDGE_ERR_KUBE_API', `applying the fence policy on the source: HTTP ${applied.status}: ${applied.body?.message ?? ''}`, {
      fix: "let the aggregator's source identity manage validatingadmissionpolicies",
    });
  await source.expect('PATCH', BINDING_PATH + APPLY, [200, 201], binding, { patchType: 'apply' });
  const target = changing ? await probeTarget(source, changing) : undefined;
  if (!target) return shards;
  const wanted = shards.includes(changing!);
  const deadline = Date.now() + ENFORCE_TIMEOUT_MS;
  for (;;) {
    const enforced = await fenceEnforced(source, target);
    if (enforced === undefined || enforced === wanted) return shards;
    if (Date.now() > deadline)
      throw new BridgeError(
        'BRIDGE_ERR_HANDOFF_TIMEOUT',
        `the source API server did not ${wanted ? 'enforce' : 'lift'} the fence on ${changing} within ${ENFORCE_TIMEOUT_MS} ms`,
      );
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function servesValidatingAdmissionPolicies(source: KubeRestClient): Promise<boolean> {
  const list = await source.request<{ resources?: { name: string }[] }>('GET', '/apis/admissionregistration.k8s.io/v1');
  return list.status === 200 && (list.body.resources ?? []).some((r) => r.name === 'validatingadmissionpolicies');
}

/** Removes the fence entirely (the bridge uninstalled, or a test's cleanup). */
export async function removeFence(source: KubeRestClient): Promise<void> {
  await source.expect('DELETE', BINDING_PATH, [200, 202, 404]);
  await source.expect('DELETE', POLICY_PATH, [200, 202, 404]);
}
