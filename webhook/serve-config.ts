/**
 * `bridgectl webhook serve` configuration: every flag has an environment variable (flags win), and
 * everything is validated before anything starts, with a message naming the bad field.
 */
import { BridgeError } from '../lib/errors.js';
import { existingFile, hostPort, oneOf, optionalString, portNumber, positiveNumber, type Env } from '../lib/process/config.js';
import {
  FAIL_MODES,
  KUBERNETES_SERVICE_HOST_NAME,
  KUBERNETES_SERVICE_PORT,
  SIDECAR_TLS_SECRET,
  SYSTEM_NAMESPACE,
  WEBHOOK_CONFIGURATION,
  WEBHOOK_OPS_PORT,
  WEBHOOK_PORT,
  WEBHOOK_SERVICE,
  WEBHOOK_TLS_SECRET,
} from '../lib/names.js';
import { DEFAULT_RESOURCES, isIpAddress, type InjectionConfig } from './injection-config.js';
import { DEFAULT_MAX_BODY_BYTES } from './admission-server.js';

/** Environment variable per setting; `bridgectl webhook serve` derives one flag from each (lib/env-flags). */
export const WEBHOOK_ENV = {
  host: 'BRIDGE_WEBHOOK_HOST',
  port: 'BRIDGE_WEBHOOK_PORT',
  opsHost: 'BRIDGE_WEBHOOK_OPS_HOST',
  opsPort: 'BRIDGE_WEBHOOK_OPS_PORT',
  kubeconfig: 'BRIDGE_KUBECONFIG',
  tlsCertFile: 'BRIDGE_WEBHOOK_TLS_CERT_FILE',
  tlsKeyFile: 'BRIDGE_WEBHOOK_TLS_KEY_FILE',
  selfProvision: 'BRIDGE_WEBHOOK_SELF_PROVISION',
  tlsSecret: 'BRIDGE_WEBHOOK_TLS_SECRET',
  systemNamespace: 'BRIDGE_SYSTEM_NAMESPACE',
  serviceName: 'BRIDGE_WEBHOOK_SERVICE',
  webhookConfigName: 'BRIDGE_WEBHOOK_CONFIG_NAME',
  extraSans: 'BRIDGE_WEBHOOK_EXTRA_SANS',
  certValiditySeconds: 'BRIDGE_WEBHOOK_CERT_VALIDITY_SECONDS',
  certRenewBeforeSeconds: 'BRIDGE_WEBHOOK_CERT_RENEW_BEFORE_SECONDS',
  certCheckSeconds: 'BRIDGE_WEBHOOK_CERT_CHECK_SECONDS',
  sidecarImage: 'BRIDGE_SIDECAR_IMAGE',
  sidecarNodeBinary: 'BRIDGE_SIDECAR_NODE_BINARY',
  upstream: 'BRIDGE_UPSTREAM',
  localApiserver: 'BRIDGE_LOCAL_APISERVER',
  failMode: 'BRIDGE_FAIL_MODE',
  sidecarStyle: 'BRIDGE_SIDECAR_STYLE',
  excludeNamespaces: 'BRIDGE_EXCLUDE_NAMESPACES',
  maxBodyBytes: 'BRIDGE_WEBHOOK_MAX_BODY_BYTES',
  servingCaCertFile: 'BRIDGE_SERVING_CA_CERT_FILE',
  servingCaKeyFile: 'BRIDGE_SERVING_CA_KEY_FILE',
  clientCaCertFile: 'BRIDGE_CLIENT_CA_CERT_FILE',
  clientCaKeyFile: 'BRIDGE_CLIENT_CA_KEY_FILE',
  extraCaFile: 'BRIDGE_EXTRA_CA_FILE',
  reconcile: 'BRIDGE_WEBHOOK_RECONCILE',
  reconcileSeconds: 'BRIDGE_WEBHOOK_RECONCILE_SECONDS',
  events: 'BRIDGE_WEBHOOK_EVENTS',
  sidecarImagePullPolicy: 'BRIDGE_SIDECAR_IMAGE_PULL_POLICY',
  sidecarTlsSecret: 'BRIDGE_SIDECAR_TLS_SECRET',
  sidecarHoldSeconds: 'BRIDGE_SIDECAR_HOLD_SECONDS',
} as const;

/** Settings whose flag takes no value (`--self-provision` means true). */
export const WEBHOOK_BOOLEAN_SETTINGS = ['selfProvision'] as const;

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
  /** The bridge's serving and client intermediates (ADR 0021), each its chain file and key file. */
  issuers?: { serving: PemFiles; client: PemFiles };
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
  return (env[field] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

const E = WEBHOOK_ENV;

type NeedKube = (what: string, field: string) => void;

/** Where the serving certificate comes from: a Secret the webhook keeps itself, or files. */
function servingTls(env: Env, needKube: NeedKube): ServeConfig['tls'] {
  if (bool(env, E.selfProvision, false)) {
    needKube('self-provisioned certificates', E.selfProvision);
    const sans = list(env, E.extraSans);
    return {
      kind: 'self-provision',
      secretName: optionalString(env, E.tlsSecret, WEBHOOK_TLS_SECRET),
      webhookConfigName: optionalString(env, E.webhookConfigName, WEBHOOK_CONFIGURATION),
      extraDnsNames: sans.filter((s) => !isIpAddress(s)),
      ipAddresses: sans.filter(isIpAddress),
      validitySeconds: positiveNumber(env, E.certValiditySeconds, 30 * 86_400),
      renewBeforeSeconds: env[E.certRenewBeforeSeconds]?.trim() ? positiveNumber(env, E.certRenewBeforeSeconds, 1) : undefined,
      checkSeconds: positiveNumber(env, E.certCheckSeconds, 60),
    };
  }
  if (!env[E.tlsCertFile]?.trim() && !env[E.tlsKeyFile]?.trim()) {
    throw new BridgeError('BRIDGE_ERR_CONFIG', `no serving certificate: set ${E.tlsCertFile} and ${E.tlsKeyFile}, or ${E.selfProvision}=true`, {
      fix: 'pass --tls-cert-file/--tls-key-file (see `bridgectl certs webhook`) or --self-provision',
    });
  }
  return { kind: 'files', certFile: existingFile(env, E.tlsCertFile), keyFile: existingFile(env, E.tlsKeyFile) };
}

export interface PemFiles {
  certFile: string;
  keyFile: string;
}

const ISSUER_FLAGS = '--serving-ca-cert-file, --serving-ca-key-file, --client-ca-cert-file and --client-ca-key-file';

/** The intermediates that sign sidecar certificates (serving and client), when all four files are given. */
function issuerFiles(env: Env): ServeConfig['issuers'] {
  const names = [E.servingCaCertFile, E.servingCaKeyFile, E.clientCaCertFile, E.clientCaKeyFile];
  const given = names.filter((name) => env[name]?.trim());
  if (given.length === 0) return undefined;
  if (given.length !== names.length) {
    throw new BridgeError('BRIDGE_ERR_CONFIG', `${names.join(', ')} must be set together`, { fix: `pass ${ISSUER_FLAGS} (see \`bridgectl certs ca\`)` });
  }
  return {
    serving: { certFile: existingFile(env, E.servingCaCertFile), keyFile: existingFile(env, E.servingCaKeyFile) },
    client: { certFile: existingFile(env, E.clientCaCertFile), keyFile: existingFile(env, E.clientCaKeyFile) },
  };
}

export function loadServeConfig(env: Env, version: string): ServeConfig {
  const inCluster = Boolean(env.KUBERNETES_SERVICE_HOST);
  const kubeconfig = env[E.kubeconfig]?.trim() ? existingFile(env, E.kubeconfig) : undefined;
  const kube = kubeconfig ? { kubeconfig } : inCluster ? {} : undefined;
  const needKube: NeedKube = (what, field) => {
    if (!kube) {
      throw new BridgeError('BRIDGE_ERR_CONFIG', `${field}: ${what} needs API access`, { fix: 'pass --kubeconfig (or run in a pod), or change the setting' });
    }
  };
  const tls = servingTls(env, needKube);

  const sidecarStyle = oneOf(env, E.sidecarStyle, ['auto', 'native', 'container'] as const, 'auto');
  if (sidecarStyle === 'auto') needKube('detecting native sidecar support (sidecar style auto)', E.sidecarStyle);

  const defaultLocal = env.KUBERNETES_SERVICE_HOST
    ? `${env.KUBERNETES_SERVICE_HOST}:${env.KUBERNETES_SERVICE_PORT ?? '443'}`
    : `${KUBERNETES_SERVICE_HOST_NAME}:${KUBERNETES_SERVICE_PORT}`;
  const upstream = hostPort(env, E.upstream)!;
  const localApiserver = hostPort({ [E.localApiserver]: env[E.localApiserver]?.trim() || defaultLocal }, E.localApiserver)!;

  const issuers = issuerFiles(env);
  const reconcile = bool(env, E.reconcile, Boolean(issuers && kube));
  if (reconcile) {
    needKube('the namespace reconciler', E.reconcile);
    if (!issuers) {
      throw new BridgeError('BRIDGE_ERR_CONFIG', `${E.reconcile} needs the bridge's serving and client intermediates to issue sidecar certificates`, {
        fix: `pass ${ISSUER_FLAGS}`,
      });
    }
  }
  const events = bool(env, E.events, Boolean(kube));
  if (events) needKube('recording Events', E.events);

  return {
    host: optionalString(env, E.host, '0.0.0.0'),
    port: portNumber(env, E.port, WEBHOOK_PORT),
    opsHost: optionalString(env, E.opsHost, '0.0.0.0'),
    opsPort: portNumber(env, E.opsPort, WEBHOOK_OPS_PORT),
    kube,
    tls,
    systemNamespace: optionalString(env, E.systemNamespace, SYSTEM_NAMESPACE),
    serviceName: optionalString(env, E.serviceName, WEBHOOK_SERVICE),
    sidecarStyle,
    injection: {
      version,
      sidecarImage: optionalString(env, E.sidecarImage, `cluster-bridge/sidecar:${version}`),
      sidecarNodeBinary: optionalString(env, E.sidecarNodeBinary, 'node'),
      sidecarImagePullPolicy: oneOf(env, E.sidecarImagePullPolicy, ['Always', 'IfNotPresent', 'Never'] as const, 'IfNotPresent'),
      upstream,
      localApiserver,
      failMode: oneOf(env, E.failMode, FAIL_MODES, 'local'),
      resources: DEFAULT_RESOURCES,
      sidecarTlsSecret: optionalString(env, E.sidecarTlsSecret, SIDECAR_TLS_SECRET),
      excludedNamespaces: list(env, E.excludeNamespaces),
      holdTimeoutSeconds: positiveNumber(env, E.sidecarHoldSeconds, 60),
    },
    maxBodyBytes: positiveNumber(env, E.maxBodyBytes, DEFAULT_MAX_BODY_BYTES),
    issuers,
    extraCaFile: env[E.extraCaFile]?.trim() ? existingFile(env, E.extraCaFile) : undefined,
    reconcile,
    reconcileSeconds: positiveNumber(env, E.reconcileSeconds, 30),
    events,
  };
}
