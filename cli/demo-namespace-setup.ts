/**
 * The demo's application namespaces made ready before its rollout (issue 24): each of DEMO_NAMESPACES
 * exists on the source with the demo label, the workload (lab-apps' default ServiceAccount, the
 * identity of the lab's stand-in pod) may edit it, and may read ConfigMaps and Secrets of all
 * namespaces (the cluster-wide informer and `kubectl get -A`, answered merged once namespaces split).
 * Written as the bridge's own identity on the source: the source's fence refuses the lab's admin once a
 * namespace moved, and the synchronizer mirrors the RBAC to the destination (RoleBindings per namespace,
 * cluster RBAC always).
 */
import { LAB_APPS_NAMESPACE } from '../lab/install-context.js';
import { labComponentsKubeconfig } from '../lab/install-bridge.js';
import { ensureEditableNamespace } from '../lab/install-sidecar.js';
import { ifAbsent, KubeRestClient, usingClient } from '../lib/kube/rest-client.js';
import { DEMO_NAMESPACES, DEMO_NAMESPACE_LABEL } from './demo-namespaces.js';

const RBAC = '/apis/rbac.authorization.k8s.io/v1';
// Not cluster-bridge-*: the synchronizer mirrors no ClusterRole of that prefix (the bridge's own, lib/mirror/cluster-rbac.ts).
const READER = 'demo-workload-reader';
const WORKLOAD = { kind: 'ServiceAccount', name: 'default', namespace: LAB_APPS_NAMESPACE };

/**
 * Lets the workload read ConfigMaps and Secrets of all namespaces (a ClusterRole and its binding on the
 * source; the synchronizer mirrors cluster RBAC to the destination, where merged reads are authorized too).
 */
export async function ensureWorkloadReader(source: KubeRestClient): Promise<void> {
  await source.createOrReplace(
    `${RBAC}/clusterroles`,
    READER,
    ifAbsent({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: READER },
      rules: [{ apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['get', 'list', 'watch'] }],
    }),
  );
  await source.createOrReplace(
    `${RBAC}/clusterrolebindings`,
    READER,
    ifAbsent({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: READER },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: READER },
      subjects: [WORKLOAD],
    }),
  );
}

export async function prepareDemoNamespaces(): Promise<void> {
  await usingClient(KubeRestClient.load(await labComponentsKubeconfig('source')), async (source) => {
    await ensureWorkloadReader(source);
    for (const namespace of DEMO_NAMESPACES)
      await ensureEditableNamespace(source, namespace, 'demo-workload-edit', WORKLOAD, { [DEMO_NAMESPACE_LABEL]: 'true' });
  });
}
