/** Names shared by the webhook, its manifests and the sidecar (DESIGN.md section 6, a contract). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../lib/process/paths.js';

export {
  INJECT_LABEL,
  INJECT_LABEL_VALUE,
  INJECT_ANNOTATION,
  MODE_ANNOTATION,
  STATUS_ANNOTATION,
  COMPONENT_LABEL,
  SYSTEM_NAMESPACE,
  CA_BUNDLE_CONFIGMAP,
  SIDECAR_TLS_SECRET,
  KUBE_ROOT_CA_CONFIGMAP,
  MANAGED_BY_LABEL,
  SIDECAR_NAME,
  SIDECAR_HOST,
  SIDECAR_PORT,
  SIDECAR_OPS_PORT,
  SIDECAR_TLS_DIR,
  SIDECAR_TLS_VOLUME,
  SIDECAR_UID,
  KUBERNETES_SERVICE_NAMES,
  KUBERNETES_SERVICE_HOST_NAME,
  KUBERNETES_SERVICE_PORT,
} from '../lib/names.js';
import { SYSTEM_NAMESPACES } from '../lib/names.js';

export const MANAGED_BY_VALUE = 'cluster-bridge-webhook';
/** Namespaces the webhook never touches, whatever their labels say. */
export const ALWAYS_EXCLUDED_NAMESPACES = SYSTEM_NAMESPACES;

let cachedVersion: string | undefined;
/** The version recorded in the status annotation: the package version, so an upgrade re-injects. */
export function injectorVersion(): string {
  cachedVersion ??= (JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return cachedVersion;
}
