/**
 * Fencing on the source (DESIGN.md section 3): once a shard belongs to the destination, the source
 * API server itself refuses writes to it and its subresources from everyone but the bridge and the
 * writes the cluster's own controllers must make (fence-exemptions.ts), so a stale sidecar, an uninjected pod or a person with kubectl on the source cannot
 * fork the state. A ValidatingAdmissionPolicy generated from the routing table, applied at each
 * hand-off: before writes are released when a shard moves to the destination, after when it returns.
 */
import { createHash } from 'node:crypto';
import { BridgeError } from '../../lib/errors.js';
import type { KubeRestClient } from '../../lib/kube/rest-client.js';
import { FENCE_VERSION_ANNOTATION, FIELD_MANAGER, MANAGED_BY_LABEL, SYSTEM_NAMESPACE, SYSTEM_NAMESPACES } from '../../lib/names.js';
import { namespaceOfShard, parseShardKey } from '../../lib/routing/shard-hash.js';
import type { RoutingTable } from '../../lib/routing/types.js';
import { FENCE_NAME, FENCE_REFUSAL_TEXT } from '../../lib/routing/fence-message.js';
import { celList, fenceExemptExpression } from './fence-exemptions.js';
import { servesValidatingAdmissionPolicies } from './fence-support.js';

export { FENCE_NAME };

/** Destination-owned shards, type and namespace shards alike, in a stable order (the policy only changes when the owners do). */
export function fencedShards(table: RoutingTable): string[] {
  return Object.values(table.shards)
    .filter((s) => s.owner === 'destination' || s.handoff?.to === 'destination')
    .map((s) => s.shard)
    .sort();
}

/**
 * Enforcement is probed with a server-side dry-run create of this ConfigMap in the bridge's namespace
 * (nothing is created): the policy refuses it exactly when its annotation carries the version of the
 * policy the API server enforces. So the probe needs no rights on any shard and no impersonation, only
 * `create` on ConfigMaps in cluster-bridge-system (manifests/source/aggregator-rbac.yaml), and proves
 * that this very policy, not an earlier one, is in force. The probe rule keeps the policy matching
 * something with nothing fenced, so raising and lowering are awaited alike.
 */
export const FENCE_PROBE = { namespace: SYSTEM_NAMESPACE, name: `${FENCE_NAME}-probe`, annotation: FENCE_VERSION_ANNOTATION } as const;

/** Names the policy's content: a probe carrying it is refused only by this policy. */
export function fenceVersion(shards: string[]): string {
  return createHash('sha256').update(JSON.stringify(shards)).digest('hex').slice(0, 16);
}

const probeMessage = (version: string) => `${FENCE_NAME} ${version} is enforced`;

const cel = (value: string) => celList([value]).slice(1, -1);

/** Whether a request concerns a fenced shard: a fenced type anywhere, or a carried type in a fenced namespace. */
function fencedTerm(shardOfRequest: string, types: string[], carried: string[], namespaces: string[]): string {
  const byType = `${shardOfRequest} in ${celList(types)}`;
  return namespaces.length === 0 ? byType : `${byType} || (${shardOfRequest} in ${celList(carried)} && request.namespace in ${celList(namespaces)})`;
}

/**
 * The policy for the fenced `shards`. A namespace shard (`namespace/<name>`) fences the carried types
 * (`carried`, the table's namespaceTypes) in that namespace only: one policy, matched by a CEL term on
 * `request.namespace`, so one probe proves the whole fence enforced (docs/adr/0026).
 */
export function fencePolicy(shards: string[], carried: readonly string[] = []): { policy: object; binding: object } {
  const version = fenceVersion(shards);
  const types = shards.filter((shard) => namespaceOfShard(shard) === undefined);
  const namespaces = shards.flatMap((shard) => namespaceOfShard(shard) ?? []);
  const carriedFenced = namespaces.length > 0 ? carried.filter((type) => !types.includes(type)) : [];
  const matched = [...types, ...carriedFenced];
  const resourceRules = matched.map((shard) => {
    const { group, resource } = parseShardKey(shard);
    // Subresources too: a `status` or `scale` write changes the object as much as a write of it does.
    return { apiGroups: [group], apiVersions: ['*'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: [resource, `${resource}/*`] };
  });
  resourceRules.push({ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'] });
  const shardOfRequest = `request.resource.resource + (request.resource.group == '' ? '' : '.' + request.resource.group)`;
  // CREATE first: a DELETE has no object, and the terms after it are not evaluated then.
  const isProbe = [
    `request.operation == 'CREATE'`,
    `request.dryRun == true`,
    `${shardOfRequest} == 'configmaps'`,
    `request.namespace == ${cel(FENCE_PROBE.namespace)}`,
    `object.metadata.name == ${cel(FENCE_PROBE.name)}`,
  ].join(' && ');
  const probeVersion = `has(object.metadata.annotations) && ${cel(FENCE_PROBE.annotation)} in object.metadata.annotations && object.metadata.annotations[${cel(FENCE_PROBE.annotation)}] == ${cel(version)}`;
  const policy = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: FENCE_NAME, labels: { [MANAGED_BY_LABEL]: FIELD_MANAGER } },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: { resourceRules },
      validations: [
        {
          // Each cluster's machinery is never moved (cluster-scoped shards have no namespace and are fenced).
          expression: `!(${fencedTerm(shardOfRequest, types, carriedFenced, namespaces)}) || request.namespace in ${celList(SYSTEM_NAMESPACES)} || ${fenceExemptExpression(matched, shardOfRequest)}`,
          messageExpression: `${shardOfRequest} + ' ${FENCE_REFUSAL_TEXT}'`,
          reason: 'Forbidden',
        },
        { expression: `!(${isProbe} && ${probeVersion})`, message: probeMessage(version), reason: 'Forbidden' },
      ],
    },
  };
  const binding = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: FENCE_NAME, labels: { [MANAGED_BY_LABEL]: FIELD_MANAGER } },
    spec: { policyName: FENCE_NAME, validationActions: ['Deny'] },
  };
  return { policy, binding };
}

const POLICY_PATH = `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${FENCE_NAME}`;
const BINDING_PATH = `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/${FENCE_NAME}`;
const APPLY = `?fieldManager=${FIELD_MANAGER}&force=true`;

const ENFORCE_TIMEOUT_MS = 10_000;
const PROBE_PATH = `/api/v1/namespaces/${FENCE_PROBE.namespace}/configmaps?dryRun=All&fieldManager=${FIELD_MANAGER}`;

/** Whether the source enforces the fence of this version right now (the probe is refused by it), or not yet. */
async function fenceEnforced(source: KubeRestClient, version: string): Promise<boolean> {
  const probe = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: FENCE_PROBE.name, annotations: { [FENCE_PROBE.annotation]: version } } };
  const answer = await source.request<{ message?: string }>('POST', PROBE_PATH, probe);
  if (answer.status === 403 && answer.body.message?.includes(probeMessage(version))) return true;
  if (answer.status === 201 || answer.status === 200) return false;
  // Refused by RBAC or missing namespace: the fence cannot be verified, and writes must not be released unverified.
  throw new BridgeError('BRIDGE_ERR_KUBE_API', `probing the source fence: HTTP ${answer.status}: ${answer.body?.message ?? ''}`, {
    fix: `let the aggregator's source identity create ConfigMaps in ${FENCE_PROBE.namespace} (manifests/source/aggregator-rbac.yaml)`,
  });
}

/**
 * Makes the source's fence match the table and, for the shard changing owner, waits until the source
 * enforces this policy (raising or lowering the shard's fence), so writes are released only then; a
 * probe the source refuses for another reason (RBAC) fails the hand-off rather than skip the wait.
 */
export async function applyFence(source: KubeRestClient, table: RoutingTable, changing?: string): Promise<string[] | 'unsupported'> {
  const shards = fencedShards(table);
  const { policy, binding } = fencePolicy(shards, table.namespaceTypes);
  const applied = await source.request<{ message?: string }>('PATCH', POLICY_PATH + APPLY, policy, { patchType: 'apply' });
  // admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy is served from Kubernetes 1.30 on.
  if (applied.status === 404 && !(await servesValidatingAdmissionPolicies(source))) return 'unsupported';
  if (applied.status !== 200 && applied.status !== 201)
    throw new BridgeError('BRIDGE_ERR_KUBE_API', `applying the fence policy on the source: HTTP ${applied.status}: ${applied.body?.message ?? ''}`, {
      fix: "let the aggregator's source identity manage validatingadmissionpolicies",
    });
  await source.expect('PATCH', BINDING_PATH + APPLY, [200, 201], binding, { patchType: 'apply' });
  if (!changing) return shards;
  const version = fenceVersion(shards);
  const deadline = Date.now() + ENFORCE_TIMEOUT_MS;
  for (;;) {
    if (await fenceEnforced(source, version)) return shards;
    if (Date.now() > deadline)
      throw new BridgeError(
        'BRIDGE_ERR_HANDOFF_TIMEOUT',
        `the source API server did not enforce the fence policy changing ${changing} within ${ENFORCE_TIMEOUT_MS} ms`,
      );
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Removes the fence entirely (the bridge uninstalled, or a test's cleanup). */
export async function removeFence(source: KubeRestClient): Promise<void> {
  await source.expect('DELETE', BINDING_PATH, [200, 202, 404]);
  await source.expect('DELETE', POLICY_PATH, [200, 202, 404]);
}
