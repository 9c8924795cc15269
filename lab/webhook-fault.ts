/**
 * A fault a real API server produces: a ValidatingWebhookConfiguration whose webhook cannot be called
 * (nothing listens at its URL) with failurePolicy Fail, so the matching creates get HTTP 500 "failed
 * calling webhook". It is narrowed to some namespaces and one user (the workload, as the aggregator
 * impersonates it), so the bridge's own writes are never refused. For the demo's `--fault` and tests.
 */
import type { KubeRestClient } from '../lib/kube/rest-client.js';
import { PART_OF_LABEL, PART_OF_VALUE } from '../lib/names.js';

const COLLECTION = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations';

export interface WebhookFault {
  name: string;
  /** The namespace, or namespaces, whose creates fail. */
  namespace: string | readonly string[];
  /** The user whose creates fail, e.g. `system:serviceaccount:lab-apps:default`. */
  user: string;
  /** A further CEL condition on the request (default: every create of that user). */
  condition?: string;
}

export async function injectWebhookFault(cluster: KubeRestClient, fault: WebhookFault): Promise<void> {
  const body = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: fault.name, labels: { [PART_OF_LABEL]: `${PART_OF_VALUE}-lab-fault` } },
    webhooks: [
      {
        name: 'fault.lab.cluster-bridge.io',
        clientConfig: { url: 'https://127.0.0.1:1/fault' },
        rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps', 'secrets'] }],
        namespaceSelector: {
          matchExpressions: [
            { key: 'kubernetes.io/metadata.name', operator: 'In', values: typeof fault.namespace === 'string' ? [fault.namespace] : fault.namespace },
          ],
        },
        matchConditions: [{ name: 'the-workload', expression: `request.userInfo.username == '${fault.user}' && (${fault.condition ?? 'true'})` }],
        failurePolicy: 'Fail',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        timeoutSeconds: 1,
      },
    ],
  };
  await cluster.createOrReplace(COLLECTION, fault.name, body);
}

export async function removeWebhookFault(cluster: KubeRestClient, name: string): Promise<void> {
  await cluster.expect('DELETE', `${COLLECTION}/${encodeURIComponent(name)}`, [200, 404]);
}
