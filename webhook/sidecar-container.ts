/**
 * The cluster-bridge-proxy container and the volume it needs. The proxy listens on loopback only, so the
 * kubelet (which probes from the node, not from inside the pod) cannot reach it with an httpGet probe:
 * the probe execs a one-line node script against the ops port instead (docs/adr/0002).
 */
import { SIDECAR_NAME, SIDECAR_OPS_PORT, SIDECAR_TLS_DIR, SIDECAR_TLS_VOLUME, SIDECAR_UID } from './constants.js';
import { formatHostPort, type InjectionConfig, type SidecarStyle } from './injection-config.js';
import type { Container, Volume } from './pod-types.js';

const READYZ_URL = `http://127.0.0.1:${SIDECAR_OPS_PORT}/readyz`;

/** Exits 0 when the proxy answers ready. */
const PROBE_SCRIPT = `fetch('${READYZ_URL}').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`;

/** Waits for the proxy to be ready (or the timeout), like Istio's holdApplicationUntilProxyStarts. */
function holdScript(timeoutSeconds: number): string {
  return (
    `const end=Date.now()+${timeoutSeconds * 1000};` +
    `const t=()=>fetch('${READYZ_URL}').then(r=>r.ok,()=>false).then(ok=>ok||Date.now()>end?process.exit(0):setTimeout(t,250));t()`
  );
}

function fieldEnv(name: string, fieldPath: string) {
  return { name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } };
}

export function sidecarContainer(config: InjectionConfig, style: SidecarStyle): Container {
  const container: Container = {
    name: SIDECAR_NAME,
    image: config.sidecarImage,
    imagePullPolicy: config.sidecarImagePullPolicy,
    // No command or args: the sidecar image's ENTRYPOINT runs the lean entry, dist/sidecar/main.js (Dockerfile.sidecar).
    env: [
      { name: 'BRIDGE_UPSTREAM', value: `https://${formatHostPort(config.upstream)}` },
      { name: 'BRIDGE_LOCAL_APISERVER', value: `https://${formatHostPort(config.localApiserver)}` },
      { name: 'BRIDGE_FAIL_MODE', value: config.failMode },
      { name: 'BRIDGE_TLS_DIR', value: SIDECAR_TLS_DIR },
      // The proxy has no service-account mount: its Secret's ca.crt (cluster CA + bridge CA) verifies the local API server.
      { name: 'BRIDGE_LOCAL_CA_FILE', value: `${SIDECAR_TLS_DIR}/ca.crt` },
      fieldEnv('BRIDGE_POD_NAME', 'metadata.name'),
      fieldEnv('BRIDGE_POD_NAMESPACE', 'metadata.namespace'),
      fieldEnv('BRIDGE_NODE_NAME', 'spec.nodeName'),
    ],
    resources: {
      requests: { ...config.resources.requests },
      limits: { ...config.resources.limits },
    },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: SIDECAR_UID,
      runAsGroup: SIDECAR_UID,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    startupProbe: {
      exec: { command: [config.sidecarNodeBinary, '-e', PROBE_SCRIPT] },
      periodSeconds: 1,
      timeoutSeconds: 3,
      failureThreshold: 120,
    },
    volumeMounts: [{ name: SIDECAR_TLS_VOLUME, mountPath: SIDECAR_TLS_DIR, readOnly: true }],
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  if (style === 'native') {
    // An init container that keeps running: started first, ready before the app's init containers, stopped last.
    container.restartPolicy = 'Always';
  } else {
    // Ordinary container placed first: the kubelet starts containers in order and waits for postStart.
    container.lifecycle = { postStart: { exec: { command: [config.sidecarNodeBinary, '-e', holdScript(config.holdTimeoutSeconds)] } } };
  }
  return container;
}

export function sidecarTlsVolume(config: InjectionConfig): Volume {
  return { name: SIDECAR_TLS_VOLUME, secret: { secretName: config.sidecarTlsSecret } };
}
