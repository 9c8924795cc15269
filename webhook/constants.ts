/** Names shared by the webhook, its manifests and the sidecar (DESIGN.md section 6, a contract). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../lib/paths.js';

export const INJECT_LABEL = 'cluster-bridge.io/inject';
export const INJECT_LABEL_VALUE = 'enabled';
export const INJECT_ANNOTATION = 'cluster-bridge.io/inject';
export const MODE_ANNOTATION = 'cluster-bridge.io/mode';
export const STATUS_ANNOTATION = 'cluster-bridge.io/status';
/** Pods of cluster-bridge itself carry this label; the webhook never injects them. */
export const COMPONENT_LABEL = 'cluster-bridge.io/component';

export const SYSTEM_NAMESPACE = 'cluster-bridge-system';
export const CA_BUNDLE_CONFIGMAP = 'cluster-bridge-ca-bundle';
export const SIDECAR_TLS_SECRET = 'cluster-bridge-sidecar-tls';
export const KUBE_ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'cluster-bridge-webhook';

export const SIDECAR_NAME = 'cluster-bridge-proxy';
export const SIDECAR_HOST = '127.0.0.1';
export const SIDECAR_PORT = 16443;
export const SIDECAR_OPS_PORT = 16080;
export const SIDECAR_TLS_DIR = '/var/run/cluster-bridge/tls';
export const SIDECAR_TLS_VOLUME = 'cluster-bridge-tls';
/** The non-root user the sidecar runs as (the conventional "nonroot" id, as in Dockerfile.sidecar). */
export const SIDECAR_UID = 65532;

/** Namespaces the webhook never touches, whatever their labels say. */
export const ALWAYS_EXCLUDED_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease', SYSTEM_NAMESPACE] as const;

/** The names the in-cluster API service answers to; dns mode maps them to the aggregator. */
export const KUBERNETES_SERVICE_NAMES = ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];

let cachedVersion: string | undefined;
/** The version recorded in the status annotation: the package version, so an upgrade re-injects. */
export function injectorVersion(): string {
  cachedVersion ??= (JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return cachedVersion;
}
