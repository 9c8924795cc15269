import { describe, expect, it } from '@jest/globals';
import fastJsonPatch from 'fast-json-patch';
import { handleAdmission } from '../../webhook/admission-handler.js';
import { defaultInjectionConfig } from '../../webhook/injection-config.js';
import { injectPod, parseStatus, stripInjection } from '../../webhook/mutation.js';
import type { Container, Pod } from '../../webhook/pod-types.js';
import { sidecarStyleFor } from '../../webhook/server-version.js';

const config = defaultInjectionConfig({ upstream: { host: 'agg.example.com', port: 8443 }, localApiserver: { host: '10.96.0.1', port: 443 } });
const envValue = (c: Container | undefined, name: string) => c?.env?.find((e) => e.name === name)?.value;

function basePod(): Pod {
  return {
    metadata: { name: 'p', namespace: 'apps', annotations: { keep: 'me' } },
    spec: {
      initContainers: [{ name: 'init', image: 'busybox' }],
      containers: [
        {
          name: 'app',
          image: 'nginx',
          env: [
            { name: 'KUBERNETES_SERVICE_HOST', value: 'x' },
            { name: 'A', value: '1' },
          ],
        },
      ],
      volumes: [
        { name: 'kube-api-access-1', projected: { sources: [{ configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }] } },
      ],
    },
  };
}

describe('injectPod', () => {
  it('never modifies its input', () => {
    const pod = basePod();
    const before = structuredClone(pod);
    injectPod(pod, 'sidecar', config);
    injectPod(pod, 'dns', config);
    expect(pod).toEqual(before);
  });

  it('native style: the proxy is the first init container, restartable, with a startup probe and a locked-down securityContext', () => {
    const out = injectPod(basePod(), 'sidecar', { ...config, sidecarStyle: 'native' });
    const proxy = out.spec!.initContainers![0]!;
    expect(out.spec!.initContainers!.map((c) => c.name)).toEqual(['cluster-bridge-proxy', 'init']);
    expect(proxy.restartPolicy).toBe('Always');
    expect(proxy.startupProbe).toBeDefined();
    expect(proxy.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(proxy.resources).toMatchObject({ requests: { cpu: expect.any(String), memory: expect.any(String) }, limits: { memory: expect.any(String) } });
    expect(envValue(proxy, 'BRIDGE_UPSTREAM')).toBe('https://agg.example.com:8443');
    expect(envValue(proxy, 'BRIDGE_LOCAL_APISERVER')).toBe('https://10.96.0.1:443');
    expect(envValue(proxy, 'BRIDGE_FAIL_MODE')).toBe('local');
    expect(envValue(proxy, 'BRIDGE_TLS_DIR')).toBe('/var/run/cluster-bridge/tls');
    expect(proxy.env!.find((e) => e.name === 'BRIDGE_NODE_NAME')?.valueFrom).toEqual({ fieldRef: { apiVersion: 'v1', fieldPath: 'spec.nodeName' } });
    // The app's init containers run after the proxy is ready, so they use it too.
    expect(envValue(out.spec!.initContainers![1], 'KUBERNETES_SERVICE_HOST')).toBe('127.0.0.1');
  });

  it('container style: the proxy is the first container with a postStart hold, and init containers keep the real API server', () => {
    const out = injectPod(basePod(), 'sidecar', { ...config, sidecarStyle: 'container' });
    expect(out.spec!.containers.map((c) => c.name)).toEqual(['cluster-bridge-proxy', 'app']);
    expect(out.spec!.containers[0]!.lifecycle).toBeDefined();
    expect(out.spec!.containers[0]!.restartPolicy).toBeUndefined();
    expect(out.spec!.initContainers!.map((c) => c.name)).toEqual(['init']);
    expect(envValue(out.spec!.initContainers![0], 'KUBERNETES_SERVICE_HOST')).toBeUndefined();
  });

  it('overrides existing KUBERNETES_* values, keeps other env, and puts ours first', () => {
    const app = injectPod(basePod(), 'sidecar', config).spec!.containers[0]!;
    expect(app.env!.filter((e) => e.name === 'KUBERNETES_SERVICE_HOST')).toEqual([{ name: 'KUBERNETES_SERVICE_HOST', value: '127.0.0.1' }]);
    expect(envValue(app, 'KUBERNETES_PORT_443_TCP')).toBe('tcp://127.0.0.1:16443');
    expect(app.env!.at(-1)).toEqual({ name: 'A', value: '1' });
    expect(app.env![0]!.name).toBe('KUBERNETES_SERVICE_HOST');
  });

  it('reads ca.crt from the bridge CA bundle in the projected service-account volume', () => {
    const out = injectPod(basePod(), 'sidecar', config);
    expect(out.spec!.volumes![0]!.projected!.sources![0]!.configMap!.name).toBe('cluster-bridge-ca-bundle');
    expect(out.spec!.volumes!.map((v) => v.name)).toEqual(['kube-api-access-1', 'cluster-bridge-tls']);
  });

  it('dns mode with a hostname upstream: env only, no hostAliases, no sidecar', () => {
    const out = injectPod(basePod(), 'dns', config);
    expect(out.spec!.hostAliases).toBeUndefined();
    expect(out.spec!.initContainers!.map((c) => c.name)).toEqual(['init']);
    expect(envValue(out.spec!.containers[0], 'KUBERNETES_SERVICE_HOST')).toBe('agg.example.com');
    expect(envValue(out.spec!.initContainers![0], 'KUBERNETES_SERVICE_PORT')).toBe('8443');
  });

  it('records exactly what was injected and strips back to the original', () => {
    const pod = basePod();
    const out = injectPod(pod, 'sidecar', config);
    const status = parseStatus(out.metadata!.annotations!['cluster-bridge.io/status']);
    expect(status).toMatchObject({
      version: config.version,
      mode: 'sidecar',
      sidecarStyle: 'native',
      initContainers: ['cluster-bridge-proxy'],
      volumes: ['cluster-bridge-tls'],
      caBundleVolumes: ['kube-api-access-1'],
      envContainers: ['app', 'init'],
    });
    const stripped = stripInjection(out);
    expect(stripped.spec!.initContainers).toEqual(pod.spec!.initContainers);
    expect(stripped.spec!.volumes).toEqual(pod.spec!.volumes);
    expect(stripped.metadata!.annotations).toEqual({ keep: 'me' });
  });

  it('switches mode cleanly: sidecar then dns leaves no sidecar behind', () => {
    const sidecar = injectPod(basePod(), 'sidecar', config);
    const dns = injectPod(sidecar, 'dns', { ...config, upstream: { host: '10.0.0.9', port: 443 } });
    expect(dns.spec!.initContainers!.map((c) => c.name)).toEqual(['init']);
    expect(dns.spec!.volumes!.map((v) => v.name)).toEqual(['kube-api-access-1']);
    expect(dns.spec!.hostAliases).toHaveLength(1);
  });

  it('produces a JSON Patch that turns the original into the injected pod', () => {
    const pod = basePod();
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'apps', object: pod },
    };
    const result = handleAdmission(JSON.stringify(review), 'application/json', { config });
    const response = (result.body as { response: { patch: string; patchType: string; uid: string } }).response;
    expect(response.uid).toBe('u');
    expect(response.patchType).toBe('JSONPatch');
    const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString()) as fastJsonPatch.Operation[];
    const applied = fastJsonPatch.applyPatch(structuredClone(pod), ops, true, false).newDocument;
    expect(applied).toEqual(injectPod(pod, 'sidecar', config));
  });
});

describe('sidecarStyleFor', () => {
  it.each([
    [{ major: '1', minor: '36' }, 'native'],
    [{ major: '1', minor: '29+' }, 'native'],
    [{ major: '1', minor: '28' }, 'container'],
    [{ gitVersion: 'v1.33.2-eks-1' }, 'native'],
    [{ gitVersion: 'v1.27.0' }, 'container'],
    [{}, 'container'],
    [{ major: '2', minor: '0' }, 'native'],
  ])('%j -> %s', (info, style) => {
    expect(sidecarStyleFor(info)).toBe(style);
  });
});

describe('re-injection under server defaults', () => {
  it('keeps a defaulted sidecar and volume, so the patch is empty', () => {
    const injected = injectPod(basePod(), 'sidecar', config);
    const defaulted = structuredClone(injected);
    Object.assign(defaulted.spec!.initContainers![0]!, { terminationMessagePath: '/dev/termination-log' });
    (defaulted.spec!.initContainers![0]!.startupProbe as Record<string, unknown>).successThreshold = 1;
    Object.assign(defaulted.spec!.volumes!.find((v) => v.name === 'cluster-bridge-tls')!.secret as object, { defaultMode: 420 });
    expect(fastJsonPatch.compare(defaulted, injectPod(defaulted, 'sidecar', config))).toEqual([]);
  });

  it('replaces a sidecar that differs from what this version injects (an upgrade)', () => {
    const injected = injectPod(basePod(), 'sidecar', config);
    const upgraded = injectPod(injected, 'sidecar', { ...config, sidecarImage: 'cluster-bridge/sidecar:0.2.0' });
    expect(upgraded.spec!.initContainers![0]!.image).toBe('cluster-bridge/sidecar:0.2.0');
    expect(upgraded.spec!.initContainers!.filter((c) => c.name === 'cluster-bridge-proxy')).toHaveLength(1);
  });
});

// The bug (issue 21, verified on the lab): a pod created with `cluster-bridge.io/status` listing its own
// container `agent` was admitted without it; re-injection stripped what the record said. The record is
// the author's to write, so it decides nothing that is removed.
describe('a forged injection record', () => {
  const forged = (mode: 'sidecar' | 'dns') => {
    const pod = basePod();
    pod.spec!.containers.push({ name: 'agent', image: 'agent:1', env: [{ name: 'DATABASE_URL', value: 'db' }] });
    pod.spec!.initContainers!.push({ name: 'migrate', image: 'migrate:1' });
    pod.spec!.volumes!.push({ name: 'data', emptyDir: {} });
    pod.spec!.hostAliases = [{ ip: '10.0.0.9', hostnames: ['db.internal'] }];
    pod.metadata!.annotations!['cluster-bridge.io/status'] = JSON.stringify({
      version: 'x',
      mode,
      containers: ['agent'],
      initContainers: ['migrate'],
      volumes: ['data'],
      env: ['DATABASE_URL', 'A'],
      hostAliases: [{ ip: '10.0.0.9', hostnames: ['db.internal'] }],
    });
    return pod;
  };

  it.each(['sidecar', 'dns'] as const)("%s mode: removes none of the pod's own containers, volumes, variables or host aliases", (mode) => {
    const injected = injectPod(forged(mode), mode, config);
    const spec = injected.spec!;
    expect(spec.containers.map((c) => c.name)).toContain('agent');
    expect((spec.initContainers ?? []).map((c) => c.name)).toContain('migrate');
    expect((spec.volumes ?? []).map((v) => v.name)).toContain('data');
    expect(
      envValue(
        spec.containers.find((c) => c.name === 'agent'),
        'DATABASE_URL',
      ),
    ).toBe('db');
    expect(
      envValue(
        spec.containers.find((c) => c.name === 'app'),
        'A',
      ),
    ).toBe('1');
    expect(spec.hostAliases).toEqual([{ ip: '10.0.0.9', hostnames: ['db.internal'] }]);
    // And what was injected is recorded afresh, not the forged list.
    expect(parseStatus(injected.metadata!.annotations!['cluster-bridge.io/status'])!.containers).not.toContain('agent');
  });

  it("still removes the bridge's own alias in dns mode when the record names it (an aggregator IP that changed)", () => {
    const dnsConfig = defaultInjectionConfig({ upstream: { host: '10.1.1.1', port: 8443 }, localApiserver: { host: '10.96.0.1', port: 443 } });
    const once = injectPod(basePod(), 'dns', dnsConfig);
    const moved = defaultInjectionConfig({ upstream: { host: '10.2.2.2', port: 8443 }, localApiserver: { host: '10.96.0.1', port: 443 } });
    expect(injectPod(once, 'dns', moved).spec!.hostAliases!.map((a) => a.ip)).toEqual(['10.2.2.2']);
  });
});
