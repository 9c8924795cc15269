/**
 * `bridgectl webhook serve` configuration: every flag has an environment variable (flags win), and
 * everything is validated before anything starts, with a message naming the bad field.
 */
import { BridgeError } from '../lib/errors.js';
import { existingFile, hostPort, oneOf, optionalString, portNumber, positiveNumber, type Env } from '../lib/config.js';
import { SYSTEM_NAMESPACE } from './constants.js';
import { DEFAULT_RESOURCES, isIpAddress, type InjectionConfig } from './injection-config.js';
import { DEFAULT_MAX_BODY_BYTES } from './admission-server.js';

/** flag name -> environment variable. */
export const SERVE_FLAGS = {
  host: 'BRIDGE_WEBHOOK_HOST',
  port: 'BRIDGE_WEBHOOK_PORT',
  'ops-host': 'BRIDGE_WEBHOOK_OPS_HOST',
  'ops-port': 'BRIDGE_WEBHOOK_OPS_PORT',
  kubeconfig: 'BRIDGE_KUBECONFIG',
  'tls-cert-file': 'BRIDGE_WEBHOOK_TLS_CERT_FILE',
  'tls-key-file': 'BRIDGE_WEBHOOK_TLS_KEY_FILE',
  'self-provision': 'BRIDGE_WEBHOOK_SELF_PROVISION',
  'tls-secret': 'BRIDGE_WEBHOOK_TLS_SECRET',
  'system-namespace': 'BRIDGE_SYSTEM_NAMESPACE',
  'service-name': 'BRIDGE_WEBHOOK_SERVICE',
  'webhook-config-name': 'BRIDGE_WEBHOOK_CONFIG_NAME',
  'extra-sans': 'BRIDGE_WEBHOOK_EXTRA_SANS',
  'cert-validity-seconds': 'BRIDGE_WEBHOOK_CERT_VALIDITY_SECONDS',
  'cert-renew-before-seconds': 'BRIDGE_WEBHOOK_CERT_RENEW_BEFORE_SECONDS',
  'cert-check-seconds': 'BRIDGE_WEBHOOK_CERT_CHECK_SECONDS',
  'sidecar-image': 'BRIDGE_SIDECAR_IMAGE',
  'sidecar-node-binary': 'BRIDGE_SIDECAR_NODE_BINARY',
  upstream: 'BRIDGE_UPSTREAM',
  'local-apiserver': 'BRIDGE_LOCAL_APISERVER',
  'fail-mode': 'BRIDGE_FAIL_MODE',
  'sidecar-style': 'BRIDGE_SIDECAR_STYLE',
  'exclude-namespaces': 'BRIDGE_EXCLUDE_NAMESPACES',
  'max-body-bytes': 'BRIDGE_WEBHOOK_MAX_BODY_BYTES',
  'bridge-ca-cert-file': 'BRIDGE_CA_CERT_FILE',
  'bridge-ca-key-file': 'BRIDGE_CA_KEY_FILE',
  'extra-ca-file': 'BRIDGE_EXTRA_CA_FILE',
  reconcile: 'BRIDGE_WEBHOOK_RECONCILE',
  'reconcile-seconds': 'BRIDGE_WEBHOOK_RECONCILE_SECONDS',
  events: 'BRIDGE_WEBHOOK_EVENTS',
} as const;

export type ServeFlag = keyof typeof SERVE_FLAGS;

export interface ServeConfig {
  host: string;
  port: number;
  opsHost: string;
  opsPort: number;
  /** Path, 'in-cluster', or undefined when the webhook runs without API access. */
  kube: { kubeconfig?: string } | undefined;
  tls:
    | { kind: 'files'; certFile: string; keyFile: string }
    | {
        kind: 'self-provision';
        secretName: string;
        webhookConfigName: string;
        extraDnsNames: string[];
        ipAddresses: string[];
        validitySeconds: number;
        renewBeforeSeconds?: number;
        checkSeconds: number;
      };
  systemNamespace: string;
  serviceName: string;
  /** 'auto' asks the API server's /version at start. */
  sidecarStyle: 'auto' | 'native' | 'container';
  injection: Omit<InjectionConfig, 'sidecarStyle'>;
  maxBodyBytes: number;
  bridgeCa?: { certFile: string; keyFile: string };
  extraCaFile?: string;
  reconcile: boolean;
  reconcileSeconds: number;
  events: boolean;
}

function bool(env: Env, field: string, fallback: boolean): boolean {
  const raw = env[field]?.trim().toLowerCase();
  if (!raw) return fallback;
  if (['true', '1', 'yes'].includes(raw)) return true;
  if (['false', '0', 'no'].includes(raw)) return false;
  throw new BridgeError('BRIDGE_ERR_CONFIG', `${field} must be true or false, got "${raw}"`, { fix: `set ${field} correctly and restart` });
}

function list(env: Env, field: string): string[] {
  return (env[field] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/** Flags (already parsed) override environment variables of the same meaning. */
export function mergeFlags(flags: Partial<Record<ServeFlag, string | boolean | undefined>>, env: Env): Env {
  const merged: Env = { ...env };
  for (const [flag, variable] of Object.entries(SERVE_FLAGS)) {
    const value = flags[flag as ServeFlag];
    if (value !== undefined) merged[variable] = String(value);
  }
  return merged;
}

export function loadServeConfig(env: Env, version: string): ServeConfig {
  const inCluster = Boolean(env.KUBERNETES_SERVICE_HOST);
  const kubeconfig = env.BRIDGE_KUBECONFIG?.trim() ? existingFile(env, 'BRIDGE_KUBECONFIG') : undefined;
  const kube = kubeconfig ? { kubeconfig } : inCluster ? {} : undefined;
  const needKube = (what: string, field: string) => {
    if (!kube) throw new BridgeError('BRIDGE_ERR_CONFIG', `${field}: ${what} needs API access`, { fix: 'pass --kubeconfig (or run in a pod), or change the setting' });
  };

  const selfProvision = bool(env, 'BRIDGE_WEBHOOK_SELF_PROVISION', false);
  let tls: ServeConfig['tls'];
  if (selfProvision) {
    needKube('self-provisioned certificates', 'BRIDGE_WEBHOOK_SELF_PROVISION');
    const sans = list(env, 'BRIDGE_WEBHOOK_EXTRA_SANS');
    const renew = env.BRIDGE_WEBHOOK_CERT_RENEW_BEFORE_SECONDS?.trim();
    tls = {
      kind: 'self-provision',
      secretName: optionalString(env, 'BRIDGE_WEBHOOK_TLS_SECRET', 'cluster-bridge-webhook-tls'),
      webhookConfigName: optionalString(env, 'BRIDGE_WEBHOOK_CONFIG_NAME', 'cluster-bridge-injector'),
      extraDnsNames: sans.filter((s) => !isIpAddress(s)),
      ipAddresses: sans.filter(isIpAddress),
      validitySeconds: positiveNumber(env, 'BRIDGE_WEBHOOK_CERT_VALIDITY_SECONDS', 30 * 86_400),
      renewBeforeSeconds: renew ? positiveNumber(env, 'BRIDGE_WEBHOOK_CERT_RENEW_BEFORE_SECONDS', 1) : undefined,
      checkSeconds: positiveNumber(env, 'BRIDGE_WEBHOOK_CERT_CHECK_SECONDS', 60),
    };
  } else {
    if (!env.BRIDGE_WEBHOOK_TLS_CERT_FILE?.trim() && !env.BRIDGE_WEBHOOK_TLS_KEY_FILE?.trim()) {
      throw new BridgeError('BRIDGE_ERR_CONFIG', 'no serving certificate: set BRIDGE_WEBHOOK_TLS_CERT_FILE and BRIDGE_WEBHOOK_TLS_KEY_FILE, or BRIDGE_WEBHOOK_SELF_PROVISION=true', {
        fix: 'pass --tls-cert-file/--tls-key-file (see `bridgectl certs webhook`) or --self-provision',
      });
    }
    tls = { kind: 'files', certFile: existingFile(env, 'BRIDGE_WEBHOOK_TLS_CERT_FILE'), keyFile: existingFile(env, 'BRIDGE_WEBHOOK_TLS_KEY_FILE') };
  }

  const sidecarStyle = oneOf(env, 'BRIDGE_SIDECAR_STYLE', ['auto', 'native', 'container'] as const, 'auto');
  if (sidecarStyle === 'auto') needKube('detecting native sidecar support (sidecar style auto)', 'BRIDGE_SIDECAR_STYLE');

  const defaultLocal = env.KUBERNETES_SERVICE_HOST ? `${env.KUBERNETES_SERVICE_HOST}:${env.KUBERNETES_SERVICE_PORT ?? '443'}` : 'kubernetes.default.svc:443';
  const upstream = hostPort(env, 'BRIDGE_UPSTREAM')!;
  const localApiserver = hostPort({ BRIDGE_LOCAL_APISERVER: env.BRIDGE_LOCAL_APISERVER?.trim() || defaultLocal }, 'BRIDGE_LOCAL_APISERVER')!;

  const caCert = env.BRIDGE_CA_CERT_FILE?.trim();
  const caKey = env.BRIDGE_CA_KEY_FILE?.trim();
  if (Boolean(caCert) !== Boolean(caKey)) {
    throw new BridgeError('BRIDGE_ERR_CONFIG', 'BRIDGE_CA_CERT_FILE and BRIDGE_CA_KEY_FILE must be set together', { fix: 'pass both --bridge-ca-cert-file and --bridge-ca-key-file' });
  }
  const bridgeCa = caCert ? { certFile: existingFile(env, 'BRIDGE_CA_CERT_FILE'), keyFile: existingFile(env, 'BRIDGE_CA_KEY_FILE') } : undefined;
  const reconcile = bool(env, 'BRIDGE_WEBHOOK_RECONCILE', Boolean(bridgeCa && kube));
  if (reconcile) {
    needKube('the namespace reconciler', 'BRIDGE_WEBHOOK_RECONCILE');
    if (!bridgeCa) throw new BridgeError('BRIDGE_ERR_CONFIG', 'BRIDGE_WEBHOOK_RECONCILE needs the bridge CA to issue sidecar certificates', { fix: 'pass --bridge-ca-cert-file and --bridge-ca-key-file' });
  }
  const events = bool(env, 'BRIDGE_WEBHOOK_EVENTS', Boolean(kube));
  if (events) needKube('recording Events', 'BRIDGE_WEBHOOK_EVENTS');

  return {
    host: optionalString(env, 'BRIDGE_WEBHOOK_HOST', '0.0.0.0'),
    port: portNumber(env, 'BRIDGE_WEBHOOK_PORT', 8443),
    opsHost: optionalString(env, 'BRIDGE_WEBHOOK_OPS_HOST', '0.0.0.0'),
    opsPort: portNumber(env, 'BRIDGE_WEBHOOK_OPS_PORT', 8080),
    kube,
    tls,
    systemNamespace: optionalString(env, 'BRIDGE_SYSTEM_NAMESPACE', SYSTEM_NAMESPACE),
    serviceName: optionalString(env, 'BRIDGE_WEBHOOK_SERVICE', 'cluster-bridge-webhook'),
    sidecarStyle,
    injection: {
      version,
      sidecarImage: optionalString(env, 'BRIDGE_SIDECAR_IMAGE', `cluster-bridge/sidecar:${version}`),
      sidecarNodeBinary: optionalString(env, 'BRIDGE_SIDECAR_NODE_BINARY', 'node'),
      sidecarImagePullPolicy: oneOf(env, 'BRIDGE_SIDECAR_IMAGE_PULL_POLICY', ['Always', 'IfNotPresent', 'Never'] as const, 'IfNotPresent'),
      upstream,
      localApiserver,
      failMode: oneOf(env, 'BRIDGE_FAIL_MODE', ['local', 'closed'] as const, 'local'),
      resources: DEFAULT_RESOURCES,
      sidecarTlsSecret: optionalString(env, 'BRIDGE_SIDECAR_TLS_SECRET', 'cluster-bridge-sidecar-tls'),
      excludedNamespaces: list(env, 'BRIDGE_EXCLUDE_NAMESPACES'),
      holdTimeoutSeconds: positiveNumber(env, 'BRIDGE_SIDECAR_HOLD_SECONDS', 60),
    },
    maxBodyBytes: positiveNumber(env, 'BRIDGE_WEBHOOK_MAX_BODY_BYTES', DEFAULT_MAX_BODY_BYTES),
    bridgeCa,
    extraCaFile: env.BRIDGE_EXTRA_CA_FILE?.trim() ? existingFile(env, 'BRIDGE_EXTRA_CA_FILE') : undefined,
    reconcile,
    reconcileSeconds: positiveNumber(env, 'BRIDGE_WEBHOOK_RECONCILE_SECONDS', 30),
    events,
  };
}
