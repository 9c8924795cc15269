/** What the pure decision and mutation need to know; built once at start-up by serve-config.ts. */
import { KUBERNETES_SERVICE_HOST_NAME, KUBERNETES_SERVICE_PORT, SIDECAR_TLS_SECRET } from './constants.js';

export type SidecarStyle = 'native' | 'container';
export type InjectionMode = 'sidecar' | 'dns';
export const INJECTION_MODES: readonly InjectionMode[] = ['sidecar', 'dns'];

export interface SidecarResources {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
}

export interface InjectionConfig {
  /** The injector version recorded in the status annotation. */
  version: string;
  sidecarImage: string;
  sidecarImagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** The node binary inside the sidecar image, for the exec startup probe and hold (`node` on PATH in Dockerfile.sidecar's node:24-alpine). */
  sidecarNodeBinary: string;
  /** The aggregator, `https://host:port`: the sidecar's BRIDGE_UPSTREAM and dns mode's target. */
  upstream: { host: string; port: number };
  /** The source API server as pods reach it without the bridge (BRIDGE_LOCAL_APISERVER). */
  localApiserver: { host: string; port: number };
  failMode: 'local' | 'closed';
  /** Native sidecars (init container with restartPolicy Always, Kubernetes >= 1.29) or an ordinary container. */
  sidecarStyle: SidecarStyle;
  resources: SidecarResources;
  sidecarTlsSecret: string;
  /** Namespaces never injected, in addition to kube-system, kube-public, kube-node-lease and cluster-bridge-system. */
  excludedNamespaces: string[];
  /** How long the container-style hold waits for the proxy before letting the app start anyway. */
  holdTimeoutSeconds: number;
}

export const DEFAULT_RESOURCES: SidecarResources = {
  requests: { cpu: '20m', memory: '48Mi' },
  limits: { cpu: '500m', memory: '192Mi' },
};

export function defaultInjectionConfig(overrides: Partial<InjectionConfig> = {}): InjectionConfig {
  return {
    version: '0.1.0',
    sidecarImage: 'cluster-bridge/sidecar:0.1.0',
    sidecarImagePullPolicy: 'IfNotPresent',
    sidecarNodeBinary: 'node',
    upstream: { host: 'cluster-bridge-aggregator.example.com', port: 443 },
    localApiserver: { host: KUBERNETES_SERVICE_HOST_NAME, port: KUBERNETES_SERVICE_PORT },
    failMode: 'local',
    sidecarStyle: 'native',
    resources: DEFAULT_RESOURCES,
    sidecarTlsSecret: SIDECAR_TLS_SECRET,
    excludedNamespaces: [],
    holdTimeoutSeconds: 60,
    ...overrides,
  };
}

/** host:port with IPv6 hosts in brackets. */
export function formatHostPort(address: { host: string; port: number }): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

export function isIpAddress(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
}
