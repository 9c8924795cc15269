/** Versions the lab builds by default. Kubernetes 1.33+ has native sidecars GA; etcd follows Kubernetes' go.mod. */
export const DEFAULT_KUBERNETES_VERSION = 'v1.36.3';
export const KWOK_VERSION = 'v0.8.0';
/** The newest release without native sidecars by default (SidecarContainers alpha, off): the tests' older lab. */
export const PRE_NATIVE_SIDECAR_VERSION = 'v1.28.15';

const VERSION_PATTERN = /^v(\d+)\.(\d+)\.(\d+)$/;

export interface ParsedVersion {
  major: number;
  minor: number;
  patch: number;
}

export function parseKubernetesVersion(version: string): ParsedVersion | undefined {
  const match = VERSION_PATTERN.exec(version);
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]) };
}
