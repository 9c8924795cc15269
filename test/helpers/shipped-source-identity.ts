/**
 * The aggregator's source identity as shipped: manifests/source/aggregator-rbac.yaml applied to the
 * lab's source and a token of its ServiceAccount, instead of the lab's system:masters certificate, so
 * an e2e shows the bridge works with exactly the rights the manifest grants.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireLab } from '../../lab/lab-files.js';
import { writeKubeconfig } from '../../lib/kubeconfig.js';
import { SYSTEM_NAMESPACE } from '../../lib/names.js';
import { labDir } from '../../lib/paths.js';
import { kubectl, kubectlOk } from './lab-clients.js';

export const AGGREGATOR_RBAC = join(process.cwd(), 'manifests', 'source', 'aggregator-rbac.yaml');
export const AGGREGATOR_SERVICE_ACCOUNT = 'cluster-bridge-aggregator';

/** Applies the manifest to the source and writes a kubeconfig in `dir` with a token of its ServiceAccount. */
export async function shippedAggregatorSourceKubeconfig(dir: string): Promise<string> {
  await kubectl('source', ['create', 'namespace', SYSTEM_NAMESPACE]); // AlreadyExists is fine
  await kubectlOk('source', ['apply', '-f', AGGREGATOR_RBAC]);
  return serviceAccountKubeconfig(dir, SYSTEM_NAMESPACE, AGGREGATOR_SERVICE_ACCOUNT, 'aggregator-source');
}

/** A kubeconfig in `dir` for the lab's source with a 2 h token of the ServiceAccount `namespace/name`. */
export async function serviceAccountKubeconfig(dir: string, namespace: string, name: string, label = name): Promise<string> {
  const token = (await kubectlOk('source', ['-n', namespace, 'create', 'token', name, '--duration=2h'])).trim();
  const path = join(dir, `${label}.kubeconfig`);
  writeKubeconfig(path, {
    clusterName: 'lab-source',
    server: requireLab().clusters.source.server,
    caPem: readFileSync(join(labDir(), 'source', 'pki', 'ca.crt'), 'utf8'),
    userName: name,
    credentials: { token },
  });
  return path;
}
