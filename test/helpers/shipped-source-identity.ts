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
  const token = (await kubectlOk('source', ['-n', SYSTEM_NAMESPACE, 'create', 'token', AGGREGATOR_SERVICE_ACCOUNT, '--duration=2h'])).trim();
  const path = join(dir, 'aggregator-source.kubeconfig');
  writeKubeconfig(path, {
    clusterName: 'lab-source',
    server: requireLab().clusters.source.server,
    caPem: readFileSync(join(labDir(), 'source', 'pki', 'ca.crt'), 'utf8'),
    userName: AGGREGATOR_SERVICE_ACCOUNT,
    credentials: { token },
  });
  return path;
}
