/**
 * A pod in a namespace whose CA bundle or TLS Secret the reconciler has not made yet is admitted
 * unchanged, with a warning and the reason `namespace-not-ready`: injected, it would wait in
 * ContainerCreating. The readiness asked depends on the mode (DNS mode mounts only the CA bundle).
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

describe('namespace not ready', () => {
  it.each<InjectionMode>(['sidecar', 'dns'])('admits a %s-mode pod unchanged with a warning and the reason', (mode) => {
    const { result, response, asked } = answer(mode, () => false);
    expect(asked).toEqual([`apps/${mode}`]);
    expect(result.status).toBe(200);
    expect(response.allowed).toBe(true);
    expect(response.patch).toBeUndefined();
    expect(response.warnings).toEqual([`cluster-bridge did not inject: ${InjectReasons['namespace-not-ready']}`]);
    expect(result.outcome).toMatchObject({ reason: 'namespace-not-ready', mode });
  });

  it('injects once the namespace is ready', () => {
    const { result, response } = answer('sidecar', () => true);
    expect(response.patch).toBeDefined();
    expect(result.outcome.reason).toBe('injected');
  });

  it('injects a DNS-mode pod where only the sidecar-mode mounts are missing', () => {
    const { result } = answer('dns', (_namespace, mode) => mode === 'dns');
    expect(result.outcome.reason).toBe('injected');
  });
});
