/** Native sidecars need Kubernetes >= 1.29 (SidecarContainers beta, on by default; GA in 1.33). */
import { errorMessage } from '../lib/errors.js';
import type { KubeRestClient } from '../lib/kube/rest-client.js';
import { parseMinor, type VersionInfo } from '../lib/kube/version.js';
import type { SidecarStyle } from './injection-config.js';

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
