/** Native sidecars need Kubernetes >= 1.29 (SidecarContainers beta, on by default; GA in 1.33). */
import { errorMessage } from '../lib/errors.js';
import type { KubeRestClient } from '../lib/kube-rest-client.js';
import type { SidecarStyle } from './injection-config.js';

export interface VersionInfo {
  major?: string;
  minor?: string;
  gitVersion?: string;
}

/** Managed distributions report minors like "29+"; gitVersion is the fallback. */
export function parseMinor(info: VersionInfo): { major: number; minor: number } | undefined {
  const major = Number.parseInt(info.major ?? '', 10);
  const minor = Number.parseInt(info.minor ?? '', 10);
  if (Number.isInteger(major) && Number.isInteger(minor)) return { major, minor };
  const match = /^v?(\d+)\.(\d+)/.exec(info.gitVersion ?? '');
  return match ? { major: Number(match[1]), minor: Number(match[2]) } : undefined;
}

export function sidecarStyleFor(info: VersionInfo): SidecarStyle {
  const version = parseMinor(info);
  if (!version) return 'container';
  return version.major > 1 || (version.major === 1 && version.minor >= 29) ? 'native' : 'container';
}

export async function detectSidecarStyle(client: KubeRestClient): Promise<{ style: SidecarStyle; version: string; detail?: string }> {
  try {
    const response = await client.expect<VersionInfo>('GET', '/version', [200]);
    return { style: sidecarStyleFor(response.body), version: response.body.gitVersion ?? `${response.body.major}.${response.body.minor}` };
  } catch (err) {
    // An ordinary container works everywhere; only the start-up ordering is weaker.
    return { style: 'container', version: 'unknown', detail: errorMessage(err) };
  }
}
