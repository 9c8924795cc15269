/**
 * The MutatingWebhookConfiguration, built in code for URL registration (lab, e2e tests) and kept equal
 * in its settings to manifests/source/mutating-webhook.yaml (a unit test compares them).
 */
import type { KubeRestClient } from '../lib/kube/rest-client.js';
import { ALWAYS_EXCLUDED_NAMESPACES, COMPONENT_LABEL, INJECT_LABEL, INJECT_LABEL_VALUE } from './constants.js';
import { PART_OF_LABEL, PART_OF_VALUE } from '../lib/names.js';

export const WEBHOOK_NAME = 'inject.cluster-bridge.io';

export interface RegistrationSpec {
  name: string;
  /** https://host:port/mutate, or a Service reference for in-cluster deployments. */
  clientConfig: { url: string } | { service: { name: string; namespace: string; path: string; port: number } };
  caBundlePem?: string;
  /** Extra namespace labels to match (tests narrow the selector to their own namespaces). */
  extraNamespaceLabels?: Record<string, string>;
  extraNamespaceExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
  timeoutSeconds?: number;
}

export function webhookConfiguration(spec: RegistrationSpec): object {
  const clientConfig: Record<string, unknown> = { ...spec.clientConfig };
  if (spec.caBundlePem) clientConfig.caBundle = Buffer.from(spec.caBundlePem).toString('base64');
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: spec.name, labels: { [PART_OF_LABEL]: PART_OF_VALUE } },
    webhooks: [
      {
        name: WEBHOOK_NAME,
        admissionReviewVersions: ['v1'],
        clientConfig,
        rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
        namespaceSelector: {
          matchLabels: { [INJECT_LABEL]: INJECT_LABEL_VALUE, ...(spec.extraNamespaceLabels ?? {}) },
          matchExpressions: [
            { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...ALWAYS_EXCLUDED_NAMESPACES] },
            ...(spec.extraNamespaceExpressions ?? []),
          ],
        },
        objectSelector: { matchExpressions: [{ key: COMPONENT_LABEL, operator: 'DoesNotExist' }] },
        failurePolicy: 'Ignore',
        matchPolicy: 'Equivalent',
        reinvocationPolicy: 'IfNeeded',
        sideEffects: 'None',
        timeoutSeconds: spec.timeoutSeconds ?? 5,
      },
    ],
  };
}

const MWC_PATH = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';

/** Create or replace. */
export async function registerWebhook(client: KubeRestClient, spec: RegistrationSpec): Promise<void> {
  const body = webhookConfiguration(spec) as { metadata: Record<string, unknown> };
  const existing = await client.request<{ metadata: { resourceVersion: string } }>('GET', `${MWC_PATH}/${spec.name}`);
  if (existing.status === 200) {
    body.metadata.resourceVersion = existing.body.metadata.resourceVersion;
    await client.expect('PUT', `${MWC_PATH}/${spec.name}`, [200], body);
  } else {
    await client.expect('POST', MWC_PATH, [201], body);
  }
}

export async function unregisterWebhook(client: KubeRestClient, name: string): Promise<void> {
  await client.expect('DELETE', `${MWC_PATH}/${name}`, [200, 404]);
}
