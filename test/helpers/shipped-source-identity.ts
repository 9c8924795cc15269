/**
 * The bridge's identities as shipped: the aggregator's on both clusters (manifests/source/aggregator-rbac.yaml,
 * manifests/destination/rbac.yaml) and the synchronizer's on both clusters, applied to the lab and used through tokens of their
 * ServiceAccounts instead of the lab's system:masters certificates, so an e2e shows the bridge works
 * with exactly the rights the manifests grant.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterName } from '../../lab/control-plane.js';
import { requireLab } from '../../lab/lab-files.js';
import { writeKubeconfig } from '../../lab/kubeconfig.js';
import { SYSTEM_NAMESPACE } from '../../lib/names.js';
import { labDir } from '../../lib/process/paths.js';
import { kubectl, kubectlOk } from './lab-clients.js';

export const AGGREGATOR_RBAC = join(process.cwd(), 'manifests', 'source', 'aggregator-rbac.yaml');
export const AGGREGATOR_SERVICE_ACCOUNT = 'cluster-bridge-aggregator';

/** Applies the manifest to the source and writes a kubeconfig in `dir` with a token of its ServiceAccount. */
export function shippedAggregatorSourceKubeconfig(dir: string): Promise<string> {
  return shippedIdentityKubeconfig('source', AGGREGATOR_RBAC, AGGREGATOR_SERVICE_ACCOUNT, dir);
}

/**
 * manifests/destination's ServiceAccount and RBAC (the aggregator's constrained impersonation included)
 * applied to the destination, and a kubeconfig in `dir` with a token of that ServiceAccount.
 */
export async function shippedAggregatorDestinationKubeconfig(dir: string): Promise<string> {
  const manifests = join(process.cwd(), 'manifests', 'destination');
  await kubectl('destination', ['create', 'namespace', SYSTEM_NAMESPACE]); // AlreadyExists is fine
  for (const file of ['serviceaccount.yaml', 'rbac.yaml']) await kubectlOk('destination', ['apply', '-f', join(manifests, file)]);
  return serviceAccountKubeconfig(dir, SYSTEM_NAMESPACE, AGGREGATOR_SERVICE_ACCOUNT, `${AGGREGATOR_SERVICE_ACCOUNT}-destination`, 'destination');
}

export const SYNCHRONIZER_SERVICE_ACCOUNT = 'cluster-bridge-synchronizer';

/**
 * The synchronizer's identities as shipped: manifests/synchronizer/rbac.yaml (with its ServiceAccount)
 * on the source, manifests/destination/synchronizer-rbac.yaml on the destination.
 */
export async function shippedSynchronizerKubeconfigs(dir: string): Promise<{ source: string; destination: string }> {
  const manifests = join(process.cwd(), 'manifests');
  await kubectl('source', ['create', 'namespace', SYSTEM_NAMESPACE]);
  await kubectlOk('source', ['apply', '-f', join(manifests, 'synchronizer', 'serviceaccount.yaml')]);
  return {
    source: await shippedIdentityKubeconfig('source', join(manifests, 'synchronizer', 'rbac.yaml'), SYNCHRONIZER_SERVICE_ACCOUNT, dir),
    destination: await shippedIdentityKubeconfig('destination', join(manifests, 'destination', 'synchronizer-rbac.yaml'), SYNCHRONIZER_SERVICE_ACCOUNT, dir),
  };
}

/** Applies `manifest` to `cluster` and writes a kubeconfig in `dir` with a token of `serviceAccount` in the system namespace. */
async function shippedIdentityKubeconfig(cluster: ClusterName, manifest: string, serviceAccount: string, dir: string): Promise<string> {
  await kubectl(cluster, ['create', 'namespace', SYSTEM_NAMESPACE]); // AlreadyExists is fine
  await kubectlOk(cluster, ['apply', '-f', manifest]);
  return serviceAccountKubeconfig(dir, SYSTEM_NAMESPACE, serviceAccount, `${serviceAccount}-${cluster}`, cluster);
}

/** A kubeconfig in `dir` for one of the lab's clusters with a 2 h token of the ServiceAccount `namespace/name`. */
export async function serviceAccountKubeconfig(dir: string, namespace: string, name: string, label = name, cluster: ClusterName = 'source'): Promise<string> {
  const token = (await kubectlOk(cluster, ['-n', namespace, 'create', 'token', name, '--duration=2h'])).trim();
  const path = join(dir, `${label}.kubeconfig`);
  writeKubeconfig(path, {
    clusterName: `lab-${cluster}`,
    server: requireLab().clusters[cluster].server,
    caPem: readFileSync(join(labDir(), cluster, 'pki', 'ca.crt'), 'utf8'),
    userName: name,
    credentials: { token },
  });
  return path;
}
