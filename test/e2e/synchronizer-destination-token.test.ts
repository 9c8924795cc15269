// The synchronizer's destination token rotates (issue 21: the manifests gave it a token that never
// expires). On the lab, with exactly the shipped rights on both sides: the synchronizer, holding a
// short token of its ServiceAccount in the destination, asks for the next one itself and writes it into
// the source Secret its kubeconfig's tokenFile reads; the new token works and expires within a day.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireLab } from '../../lab/lab-files.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { writeKubeconfig } from '../../lab/kubeconfig.js';
import { SYSTEM_NAMESPACE } from '../../lib/names.js';
import { labDir } from '../../lib/process/paths.js';
import { DESTINATION_TOKEN_SECONDS } from '../../synchronizer/config.js';
import { DestinationToken } from '../../synchronizer/destination-token.js';
import { parse, stringify } from 'yaml';
import { kubectl, kubectlOk } from '../helpers/lab-clients.js';
import { serviceAccountKubeconfig } from '../helpers/shipped-source-identity.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';

const ACCOUNT = 'cluster-bridge-synchronizer';
const SECRET = 'cluster-bridge-destination-kubeconfig';
const dir = mkdtempSync(join(tmpdir(), 'sync-token-'));
let destination: KubeRestClient;
let source: KubeRestClient;

const destinationCluster = () => ({
  clusterName: 'lab-destination',
  server: requireLab().clusters.destination.server,
  caPem: readFileSync(join(labDir(), 'destination', 'pki', 'ca.crt'), 'utf8'),
});

const secretToken = async () =>
  Buffer.from((await kubectlOk('source', ['-n', SYSTEM_NAMESPACE, 'get', 'secret', SECRET, '-o', 'jsonpath={.data.token}'])).trim(), 'base64').toString();

beforeAll(async () => {
  for (const cluster of ['source', 'destination'] as const) await kubectl(cluster, ['create', 'namespace', SYSTEM_NAMESPACE]);
  await kubectlOk('destination', ['apply', '-f', join(process.cwd(), 'manifests', 'destination', 'synchronizer-rbac.yaml')]);
  for (const file of ['serviceaccount.yaml', 'rbac.yaml']) await kubectlOk('source', ['apply', '-f', join(process.cwd(), 'manifests', 'synchronizer', file)]);
  // The operator's first token: ten minutes here (a day in the README).
  const first = (await kubectlOk('destination', ['-n', SYSTEM_NAMESPACE, 'create', 'token', ACCOUNT, '--duration=10m'])).trim();
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, first);
  await kubectl('source', ['-n', SYSTEM_NAMESPACE, 'delete', 'secret', SECRET]);
  await kubectlOk('source', ['-n', SYSTEM_NAMESPACE, 'create', 'secret', 'generic', SECRET, `--from-file=token=${tokenFile}`]);
  // As the README builds it: the token by file, so a renewed one is read again.
  const kubeconfig = join(dir, 'destination.kubeconfig');
  writeKubeconfig(kubeconfig, { ...destinationCluster(), userName: ACCOUNT, credentials: { token: 'unused' } });
  const doc = parse(readFileSync(kubeconfig, 'utf8')) as { users: { user: Record<string, unknown> }[] };
  doc.users[0]!.user = { tokenFile };
  writeFileSync(kubeconfig, stringify(doc));
  destination = KubeRestClient.load(kubeconfig);
  source = KubeRestClient.load(await serviceAccountKubeconfig(dir, SYSTEM_NAMESPACE, ACCOUNT, 'synchronizer-source'));
}, 60_000);

afterAll(() => {
  destination?.close();
  source?.close();
});

describe("the synchronizer's destination token", () => {
  it('is renewed by the synchronizer itself into the Secret its kubeconfig reads, and the new one works and expires within a day', async () => {
    const before = await secretToken();
    const renewal = new DestinationToken({
      destination,
      source,
      secret: { namespace: SYSTEM_NAMESPACE, name: SECRET },
      expirationSeconds: DESTINATION_TOKEN_SECONDS,
      isLeader: () => true,
      log: silentLog,
    });
    const expires = await renewal.renewOnce();
    const after = await secretToken();
    expect(after).not.toBe(before);
    expect(expires.getTime() - Date.now()).toBeLessThanOrEqual(DESTINATION_TOKEN_SECONDS * 1000);
    expect(expires.getTime() - Date.now()).toBeGreaterThan(DESTINATION_TOKEN_SECONDS * 500);
    const renewed = join(dir, 'renewed.kubeconfig');
    writeKubeconfig(renewed, { ...destinationCluster(), userName: ACCOUNT, credentials: { token: after } });
    const whoami = await kubectl(renewed, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
    expect(whoami.stdout).toBe(`system:serviceaccount:${SYSTEM_NAMESPACE}:${ACCOUNT}`);
  });
});
