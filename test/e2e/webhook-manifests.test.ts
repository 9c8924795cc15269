import { describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { repoRoot } from '../../lib/process/paths.js';
import { kubectl, kubectlOk } from '../helpers/lab-clients.js';

describe('manifests/source against the lab', () => {
  it('kubectl apply -k manifests/source --dry-run=server succeeds', async () => {
    // Server-side dry run cannot create a namespace for the objects in it, so it must exist (lab install makes it too).
    await kubectlOk('source', ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'cluster-bridge-system' } }));
    const result = await kubectl('source', ['apply', '-k', join(repoRoot(), 'manifests', 'source'), '--dry-run=server']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    for (const kind of [
      'deployment.apps/cluster-bridge-webhook',
      'mutatingwebhookconfiguration.admissionregistration.k8s.io/cluster-bridge-injector',
      'poddisruptionbudget.policy/cluster-bridge-webhook',
      'clusterrole.rbac.authorization.k8s.io/cluster-bridge-webhook',
    ]) {
      expect(result.stdout).toContain(kind);
    }
    expect((await kubectl('source', ['get', 'mutatingwebhookconfiguration', 'cluster-bridge-injector'])).code).not.toBe(0);
  });
});
