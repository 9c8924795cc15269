/**
 * A pod in a namespace whose CA bundle or TLS Secret the reconciler has not made yet (labelled a
 * moment ago) is injected all the same, with a warning and the reason `injected-namespace-pending`:
 * the kubelet waits for the mounts, where an uninjected pod would bypass the bridge for its whole life
 * (issue 22). The readiness asked depends on the mode (DNS mode mounts only the CA bundle).
 */
import { describe, expect, it } from '@jest/globals';
import { handleAdmission } from '../../webhook/admission-handler.js';
import { InjectReasons } from '../../webhook/decision.js';
import { defaultInjectionConfig, type InjectionMode } from '../../webhook/injection-config.js';

const config = defaultInjectionConfig();

function review(mode: InjectionMode): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'uid-7',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      operation: 'CREATE',
      namespace: 'apps',
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p', namespace: 'apps', annotations: { 'cluster-bridge.io/mode': mode } },
        spec: { containers: [{ name: 'app', image: 'nginx' }] },
      },
    },
  });
}

function answer(mode: InjectionMode, ready: (namespace: string, mode: InjectionMode) => boolean) {
  const asked: string[] = [];
  const result = handleAdmission(review(mode), 'application/json', {
    config,
    namespaceReady: (namespace, askedMode) => {
      asked.push(`${namespace}/${askedMode}`);
      return ready(namespace, askedMode);
    },
  });
  const response = (result.body as { response: { allowed: boolean; patch?: string; warnings?: string[] } }).response;
  return { result, response, asked };
}

describe('namespace not ready yet', () => {
  it.each<InjectionMode>(['sidecar', 'dns'])('injects a %s-mode pod all the same, with a warning and the reason', (mode) => {
    const { result, response, asked } = answer(mode, () => false);
    expect(asked).toEqual([`apps/${mode}`]);
    expect(result.status).toBe(200);
    expect(response.allowed).toBe(true);
    expect(response.patch).toBeDefined();
    expect(response.warnings).toEqual([`cluster-bridge: ${InjectReasons['injected-namespace-pending']}`]);
    expect(result.outcome).toMatchObject({ reason: 'injected-namespace-pending', mode });
  });

  it('injects without a warning once the namespace is ready', () => {
    const { result, response } = answer('sidecar', () => true);
    expect(response.patch).toBeDefined();
    expect(response.warnings).toBeUndefined();
    expect(result.outcome.reason).toBe('injected');
  });

  it('injects a DNS-mode pod where only the sidecar-mode mounts are missing, without a warning', () => {
    const { result } = answer('dns', (_namespace, mode) => mode === 'dns');
    expect(result.outcome.reason).toBe('injected');
  });
});
