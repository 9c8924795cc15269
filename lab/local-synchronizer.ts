/**
 * A synchronizer of its own on the lab, for e2e tests and benchmarks: a TLS folder for its catch-up
 * API from a throwaway bridge authority, the BRIDGE_* environment that points it at the lab's two clusters (the
 * bridge's component identity in the source, so the source's fence lets its writes through), and a
 * CustomResourceDefinition installer for a test type of its own.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeRestClient } from '../lib/kube/rest-client.js';
import type { CertificateAndKey } from '../lib/tls/pki.js';
import { generateBridgeAuthority, type BridgeIssuers } from '../certs/bridge-authority.js';
import { issueComponentTlsFiles } from '../certs/bridge-certs.js';
import { writeComponentTlsDir } from '../certs/cert-files.js';
import { waitUntil } from '../lib/wait-until.js';
import { labComponentsKubeconfig } from './install-bridge.js';
import { kubeconfigPath } from './lab-files.js';
import { CRD_PATH } from '../synchronizer/crd-readiness.js';

/** A folder with tls.crt, tls.key (serving 127.0.0.1) and ca.crt, from a new bridge authority. */
export async function throwawayTlsDir(name: string): Promise<string> {
  return (await throwawayTls(name)).dir;
}

/** throwawayTlsDir's folder, its root (`ca`) and intermediates, to issue the synchronizer's callers their client certificates. */
export async function throwawayTls(name: string): Promise<{ dir: string; ca: CertificateAndKey; issuers: BridgeIssuers }> {
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const { root, issuers } = await generateBridgeAuthority(`${name}-ca`);
  writeComponentTlsDir(dir, await issueComponentTlsFiles(issuers, name, { ipAddresses: ['127.0.0.1'] }));
  return { dir, ca: root, issuers };
}

/** BRIDGE_* variables for a synchronizer of `shards` on the lab, on loopback, with free ports unless `opsPort` is given. */
export async function labSynchronizerEnv(name: string, shards: readonly string[], opsPort = 0): Promise<Record<string, string>> {
  return {
    BRIDGE_SOURCE_KUBECONFIG: await labComponentsKubeconfig('source'),
    BRIDGE_DESTINATION_KUBECONFIG: kubeconfigPath('destination'),
    BRIDGE_LISTEN_HOST: '127.0.0.1',
    BRIDGE_LISTEN_PORT: '0',
    BRIDGE_OPS_HOST: '127.0.0.1',
    BRIDGE_OPS_PORT: String(opsPort),
    BRIDGE_TLS_DIR: await throwawayTlsDir(name),
    BRIDGE_SHARDS: shards.join(','),
  };
}

export { CRD_PATH };

/** A namespaced custom resource type `plural.group` (v1, any spec), installed in each cluster given and served before this returns. */
export async function installTestCrd(clients: KubeRestClient[], group: string, plural: string, kind: string): Promise<string> {
  const name = `${plural}.${group}`;
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name },
    spec: {
      group,
      scope: 'Namespaced',
      names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List` },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } },
        },
      ],
    },
  };
  for (const client of clients) {
    await client.expect('POST', CRD_PATH, [201], crd);
    await waitUntil(`the ${kind} CRD to be served`, async () => ((await client.request('GET', `/apis/${group}/v1`)).status === 200 ? true : undefined));
  }
  return name;
}
