import { describe, expect, it } from '@jest/globals';
import { shouldInject, InjectReasons, type InjectReason } from '../../webhook/decision.js';
import { defaultInjectionConfig } from '../../webhook/injection-config.js';
import type { NamespaceInfo, Pod } from '../../webhook/pod-types.js';

const config = defaultInjectionConfig({ excludedNamespaces: ['legacy'] });
const labelled: NamespaceInfo = { name: 'apps', labels: { 'cluster-bridge.io/inject': 'enabled' } };
const unknownLabels: NamespaceInfo = { name: 'apps' };

function pod(meta: Partial<NonNullable<Pod['metadata']>> = {}, spec: Partial<NonNullable<Pod['spec']>> = {}): Pod {
  return { metadata: { name: 'p', ...meta }, spec: { containers: [{ name: 'app' }], ...spec } };
}

const cases: [string, Pod, NamespaceInfo, boolean, InjectReason, 'sidecar' | 'dns'][] = [
  ['plain pod, labelled namespace', pod(), labelled, true, 'injected', 'sidecar'],
  ['plain pod, labels unknown (namespaceSelector decided)', pod(), unknownLabels, true, 'injected', 'sidecar'],
  ['namespace without the label', pod(), { name: 'apps', labels: {} }, false, 'namespace-not-labelled', 'sidecar'],
  [
    'namespace label with another value',
    pod(),
    { name: 'apps', labels: { 'cluster-bridge.io/inject': 'disabled' } },
    false,
    'namespace-not-labelled',
    'sidecar',
  ],
  ['kube-system even when labelled', pod(), { name: 'kube-system', labels: labelled.labels }, false, 'system-namespace', 'sidecar'],
  ['kube-public', pod(), { name: 'kube-public' }, false, 'system-namespace', 'sidecar'],
  ['kube-node-lease', pod(), { name: 'kube-node-lease' }, false, 'system-namespace', 'sidecar'],
  ['cluster-bridge-system', pod(), { name: 'cluster-bridge-system' }, false, 'system-namespace', 'sidecar'],
  ['configured exclusion', pod(), { name: 'legacy', labels: labelled.labels }, false, 'system-namespace', 'sidecar'],
  ['opted out', pod({ annotations: { 'cluster-bridge.io/inject': 'false' } }), labelled, false, 'opted-out', 'sidecar'],
  ['opted out, odd spelling', pod({ annotations: { 'cluster-bridge.io/inject': ' False ' } }), labelled, false, 'opted-out', 'sidecar'],
  ['inject annotation true is not an opt-out', pod({ annotations: { 'cluster-bridge.io/inject': 'true' } }), labelled, true, 'injected', 'sidecar'],
  ['own pod', pod({ labels: { 'cluster-bridge.io/component': 'webhook' } }), labelled, false, 'own-pod', 'sidecar'],
  ['mirror pod', pod({ annotations: { 'kubernetes.io/config.mirror': 'abc' } }), labelled, false, 'mirror-pod', 'sidecar'],
  ['hostNetwork', pod({}, { hostNetwork: true }), labelled, false, 'host-network', 'sidecar'],
  ['hostNetwork false', pod({}, { hostNetwork: false }), labelled, true, 'injected', 'sidecar'],
  ['dns mode', pod({ annotations: { 'cluster-bridge.io/mode': 'dns' } }), labelled, true, 'injected', 'dns'],
  ['explicit sidecar mode', pod({ annotations: { 'cluster-bridge.io/mode': 'sidecar' } }), labelled, true, 'injected', 'sidecar'],
  ['unsupported mode', pod({ annotations: { 'cluster-bridge.io/mode': 'ambient' } }), labelled, false, 'unsupported-mode', 'sidecar'],
  ['hostNetwork in dns mode', pod({ annotations: { 'cluster-bridge.io/mode': 'dns' } }, { hostNetwork: true }), labelled, false, 'host-network', 'dns'],
  ['no containers', pod({}, { containers: [] }), labelled, false, 'no-containers', 'sidecar'],
  ['our container name without a record', pod({}, { containers: [{ name: 'cluster-bridge-proxy' }] }), labelled, false, 'container-name-conflict', 'sidecar'],
  [
    'our init container name without a record',
    pod({}, { initContainers: [{ name: 'cluster-bridge-proxy' }] }),
    labelled,
    false,
    'container-name-conflict',
    'sidecar',
  ],
  [
    'already injected',
    pod({ annotations: { 'cluster-bridge.io/status': '{}' } }, { initContainers: [{ name: 'cluster-bridge-proxy' }] }),
    labelled,
    true,
    'reinject',
    'sidecar',
  ],
  [
    'opt-out wins over an injection record',
    pod({ annotations: { 'cluster-bridge.io/status': '{}', 'cluster-bridge.io/inject': 'false' } }),
    labelled,
    false,
    'opted-out',
    'sidecar',
  ],
  [
    'system namespace wins over opt-in things',
    pod({ annotations: { 'cluster-bridge.io/mode': 'dns' } }),
    { name: 'kube-system' },
    false,
    'system-namespace',
    'sidecar',
  ],
];

describe('shouldInject', () => {
  it.each(cases)('%s', (_name, input, namespace, inject, reason, mode) => {
    expect(shouldInject(input, namespace, config)).toEqual({ inject, reason, mode });
  });

  it('has a description for every reason it can return', () => {
    for (const [, input, namespace] of cases) expect(InjectReasons[shouldInject(input, namespace, config).reason]).toBeTruthy();
  });

  it('does not modify its input', () => {
    const input = pod({ annotations: { 'cluster-bridge.io/mode': 'dns' } });
    const before = structuredClone(input);
    shouldInject(input, labelled, config);
    expect(input).toEqual(before);
  });
});
