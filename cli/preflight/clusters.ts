/**
 * The two clusters preflight compares, from their kubeconfigs (default: the lab's). Each must load and
 * answer /version before any check runs, so a missing file or an unreachable API server is one error
 * line rather than four failed checks.
 */
import { existsSync } from 'node:fs';
import { kubeconfigPath } from '../../lab/lab-files.js';
import { BridgeError, errorMessage } from '../../lib/errors.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import type { ClusterSide } from '../../lib/routing/types.js';

/** What the checks call: a KubeRestClient, or a fake of its two request methods in unit tests. */
export type KubeApi = Pick<KubeRestClient, 'request' | 'expect'>;

/** /version's answer (k8s.io/apimachinery version.Info); minor may carry a suffix such as "28+". */
export interface VersionInfo {
  major: string;
  minor: string;
  gitVersion: string;
}

export interface ConnectedCluster {
  side: ClusterSide;
  client: KubeRestClient;
  version: VersionInfo;
}

const REACH_TIMEOUT_MS = 5000;

function loadClient(side: ClusterSide, given: string | undefined): KubeRestClient {
  const path = given ?? kubeconfigPath(side);
  const flag = `--${side}-kubeconfig`;
  if (!existsSync(path)) {
    const which = given === undefined ? `no ${flag} given and the lab's ${path}` : `the ${side} kubeconfig ${path}`;
    throw new BridgeError('BRIDGE_ERR_CONFIG', `${which} does not exist`, { fix: `pass ${flag} PATH, or run \`bridgectl lab up\` to use the lab's` });
  }
  try {
    return KubeRestClient.load(path);
  } catch (err) {
    throw new BridgeError('BRIDGE_ERR_CONFIG', `cannot read the ${side} kubeconfig ${path}: ${errorMessage(err)}`, {
      fix: `pass ${flag} with a kubeconfig whose current context names a cluster`,
    });
  }
}

async function fetchVersion(side: ClusterSide, client: KubeRestClient): Promise<VersionInfo> {
  let response;
  try {
    response = await client.request<VersionInfo>('GET', '/version', undefined, { timeoutMs: REACH_TIMEOUT_MS });
  } catch (err) {
    throw new BridgeError('BRIDGE_ERR_UPSTREAM_UNREACHABLE', `cannot reach the ${side} API server ${client.server}: ${errorMessage(err)}`, {
      fix: `check that it runs and that --${side}-kubeconfig points at it`,
    });
  }
  if (response.status !== 200 || typeof response.body?.minor !== 'string') {
    throw new BridgeError('BRIDGE_ERR_KUBE_API', `the ${side} API server ${client.server} answered /version with HTTP ${response.status}`, {
      fix: `check the credentials in --${side}-kubeconfig`,
    });
  }
  return response.body;
}

/** Both clusters, each loaded and reachable; closes what it opened when either fails. */
export async function connectClusters(paths: { source?: string; destination?: string }): Promise<Record<ClusterSide, ConnectedCluster>> {
  const clients: KubeRestClient[] = [];
  try {
    const source = loadClient('source', paths.source);
    clients.push(source);
    const destination = loadClient('destination', paths.destination);
    clients.push(destination);
    const [sourceVersion, destinationVersion] = await Promise.allSettled([fetchVersion('source', source), fetchVersion('destination', destination)]);
    // Both asked at once; when both fail, the source's error is the one reported, every time.
    if (sourceVersion.status === 'rejected') throw sourceVersion.reason;
    if (destinationVersion.status === 'rejected') throw destinationVersion.reason;
    return {
      source: { side: 'source', client: source, version: sourceVersion.value },
      destination: { side: 'destination', client: destination, version: destinationVersion.value },
    };
  } catch (err) {
    for (const client of clients) client.close();
    throw err;
  }
}
