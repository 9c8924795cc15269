/**
 * Who may still write a fenced shard on the source, and exactly what (issue 21: no blanket exemption;
 * before, every `kube-system` service account was exempt, so any un-bridged writer there forked a moved
 * shard silently). Each entry names the identities, the operations, the shards and subresources, and a
 * condition where one narrows it, with the reason it must write. The fence (fencing.ts) turns the
 * entries that concern its shards into one CEL expression. `system:kube-controller-manager` stands
 * beside each controller's service account: without `--use-service-account-credentials` every
 * controller acts as it (the tokens controller always does).
 */
import { SYSTEM_NAMESPACE } from '../../lib/names.js';

export type FenceOperation = 'CREATE' | 'UPDATE' | 'DELETE';

export interface FenceExemption {
  /** Usernames; one ending in `:` is a prefix (the bridge's own service accounts). */
  users: string[];
  operations: FenceOperation[];
  /** Shard keys (`resource` or `resource.group`); undefined: every fenced shard. */
  shards?: string[];
  /** Subresources allowed ('' is the object itself); undefined: any. */
  subresources?: string[];
  /** A CEL condition that must also hold. */
  condition?: string;
  why: string;
}

const KCM = 'system:kube-controller-manager';
const controller = (name: string) => [`system:serviceaccount:kube-system:${name}`, KCM];
const ALL: FenceOperation[] = ['CREATE', 'UPDATE', 'DELETE'];
/** The object the request concerns: the new one, or on DELETE the old one. */
const subject = (field: string, value: string) =>
  `((object != null && has(object.${field}) && object.${field} == '${value}') || (object == null && oldObject != null && has(oldObject.${field}) && oldObject.${field} == '${value}'))`;

export const FENCE_EXEMPTIONS: readonly FenceExemption[] = [
  {
    users: [`system:serviceaccount:${SYSTEM_NAMESPACE}:`],
    operations: ALL,
    why: "the bridge itself: the synchronizer copies the destination's changes back, the aggregator creates source-first objects, the webhook keeps the CA bundle and sidecar Secret of labelled namespaces; only the bridge's installer runs pods in its namespace",
  },
  {
    users: ['system:apiserver'],
    operations: ALL,
    why: "the API server's own loopback identity (the `kubernetes` Service in `default`, RBAC bootstrap); no client holds it",
  },
  {
    users: controller('namespace-controller'),
    operations: ['DELETE'],
    condition: 'namespaceObject != null && has(namespaceObject.metadata.deletionTimestamp)',
    why: 'empties a namespace being deleted on the source; refused, the namespace never goes',
  },
  {
    users: controller('generic-garbage-collector'),
    operations: ['UPDATE', 'DELETE'],
    subresources: [''],
    why: "deletes dependents of deleted owners and removes owner references and finalizers when orphaning (synchronizer/README.md: cascading deletion acts on each cluster's copies)",
  },
  {
    users: controller('root-ca-cert-publisher'),
    operations: ['CREATE', 'UPDATE'],
    shards: ['configmaps'],
    condition: subject('metadata.name', 'kube-root-ca.crt'),
    why: "publishes the source's CA in every namespace (kube-root-ca.crt is each cluster's own, never mirrored)",
  },
  {
    users: controller('service-account-controller'),
    operations: ['CREATE'],
    shards: ['serviceaccounts'],
    condition: subject('metadata.name', 'default'),
    why: "creates each namespace's default ServiceAccount (each cluster's own, never mirrored)",
  },
  {
    users: [KCM, 'system:serviceaccount:kube-system:legacy-service-account-token-cleaner'],
    operations: ALL,
    shards: ['secrets'],
    condition: subject('type', 'kubernetes.io/service-account-token'),
    why: "fills and removes service-account token Secrets, which hold the source's own tokens and are never mirrored",
  },
  {
    users: controller('clusterrole-aggregation-controller'),
    operations: ['UPDATE'],
    shards: ['clusterroles.rbac.authorization.k8s.io'],
    why: 'fills the rules of aggregated ClusterRoles from the ClusterRoles they select',
  },
  ...(
    [
      ['deployment-controller', 'deployments.apps'],
      ['statefulset-controller', 'statefulsets.apps'],
      ['daemon-set-controller', 'daemonsets.apps'],
      ['job-controller', 'jobs.batch'],
      ['cronjob-controller', 'cronjobs.batch'],
    ] as const
  ).map(([name, shard]) => ({
    users: controller(name),
    operations: ['UPDATE'] as FenceOperation[],
    shards: [shard],
    subresources: ['', 'status'],
    why: "the pods run in the source, so its workload controllers write their workloads' status and bookkeeping (DESIGN.md section 3: the status of workload objects is the source's)",
  })),
  {
    users: controller('cronjob-controller'),
    operations: ['CREATE', 'DELETE'],
    shards: ['jobs.batch'],
    subresources: [''],
    why: 'starts and cleans up the Jobs of CronJobs, whose pods run in the source',
  },
  {
    users: controller('ttl-after-finished-controller'),
    operations: ['DELETE'],
    shards: ['jobs.batch'],
    subresources: [''],
    why: 'deletes finished Jobs whose TTL ran out',
  },
  {
    users: [...controller('persistent-volume-binder'), 'system:serviceaccount:kube-system:pvc-protection-controller'],
    operations: ['UPDATE'],
    shards: ['persistentvolumeclaims'],
    subresources: ['', 'status'],
    why: "binds claims to the source's volumes and guards claims in use by the source's pods",
  },
  {
    users: [...controller('ephemeral-volume-controller'), 'system:serviceaccount:kube-system:statefulset-controller'],
    operations: ['CREATE'],
    shards: ['persistentvolumeclaims'],
    subresources: [''],
    why: "creates the claims of the source's pods (generic ephemeral volumes, StatefulSet volume claim templates)",
  },
  {
    users: controller('horizontal-pod-autoscaler'),
    operations: ['UPDATE'],
    shards: ['deployments.apps', 'statefulsets.apps'],
    subresources: ['scale'],
    why: "scales workloads by the load of the source's pods",
  },
  {
    users: [...controller('service-controller'), 'system:cloud-controller-manager'],
    operations: ['UPDATE'],
    shards: ['services'],
    subresources: ['', 'status'],
    why: "the source's load balancers: their finalizer and status are the source's",
  },
];

const cel = (value: string) => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
export const celList = (values: readonly string[]) => `[${values.map(cel).join(', ')}]`;

function userTerm(users: readonly string[]): string {
  const exact = users.filter((u) => !u.endsWith(':'));
  const terms = users.filter((u) => u.endsWith(':')).map((u) => `request.userInfo.username.startsWith(${cel(u)})`);
  if (exact.length > 0) terms.push(`request.userInfo.username in ${celList(exact)}`);
  return terms.length === 1 ? terms[0]! : `(${terms.join(' || ')})`;
}

/** The exemptions that concern any of `shards`, as one CEL expression (`false` when none does). */
export function fenceExemptExpression(shards: readonly string[], shardOfRequest: string): string {
  const terms = FENCE_EXEMPTIONS.filter((e) => !e.shards || e.shards.some((s) => shards.includes(s))).map((e) => {
    const parts = [userTerm(e.users), `request.operation in ${celList(e.operations)}`];
    if (e.shards) parts.push(`${shardOfRequest} in ${celList(e.shards)}`);
    if (e.subresources) parts.push(`request.subResource in ${celList(e.subresources)}`);
    if (e.condition) parts.push(e.condition);
    return `(${parts.join(' && ')})`;
  });
  return terms.length === 0 ? 'false' : terms.join(' || ');
}
