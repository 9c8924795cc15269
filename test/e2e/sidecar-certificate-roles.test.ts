// The sidecar TLS Secret the namespace reconciler writes in a labelled namespace of the lab (ADR 0021):
// its client certificate cannot serve to the namespace's pods (they trust the bundle the reconciler
// publishes), and its loopback serving certificate cannot authenticate to a bridge server (which
// trusts the bridge root), in real handshakes. Each with its control: the right key for the right role.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { kubeconfigPath } from '../../lab/lab-files.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { generateBridgeAuthority, bridgeRootPem, type BridgeIssuers } from '../../certs/bridge-authority.js';
import { decodeSecretData } from '../../certs/cert-files.js';
import { issueCertificate, type CertificateAndKey } from '../../lib/tls/pki.js';
import { CA_BUNDLE_CONFIGMAP, INJECT_LABEL, SIDECAR_TLS_SECRET } from '../../webhook/constants.js';
import { NamespaceReconciler } from '../../webhook/namespace-reconciler.js';
import { E2E_WEBHOOK_LABEL } from '../../lib/names.js';
import { createNamespace, uniqueName } from '../helpers/lab-clients.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';
import { clientVerdict, serverVerdict } from '../helpers/tls-verdicts.js';
import { waitUntil } from '../../lib/wait-until.js';

let client: KubeRestClient;
let issuers: BridgeIssuers;
let files: Record<string, string>;
let podTrust: string;
const pair = (name: 'tls' | 'client'): CertificateAndKey => ({ certPem: files[`${name}.crt`]!, keyPem: files[`${name}.key`]! });

beforeAll(async () => {
  client = KubeRestClient.load(kubeconfigPath('source'));
  issuers = (await generateBridgeAuthority('roles-e2e-ca')).issuers;
  const reconciler = new NamespaceReconciler({ client, issuers, log: silentLog });
  const ns = await createNamespace('source', 'roles', { [INJECT_LABEL]: 'enabled', [E2E_WEBHOOK_LABEL]: uniqueName('roles') });
  await waitUntil('kube-root-ca.crt and a reconciled namespace', async () => ((await reconciler.reconcileNamespace(ns)) ? true : undefined));
  const secret = await client.expect<{ data: Record<string, string> }>('GET', `/api/v1/namespaces/${ns}/secrets/${SIDECAR_TLS_SECRET}`, [200]);
  files = decodeSecretData(secret.body);
  const bundle = await client.expect<{ data: Record<string, string> }>('GET', `/api/v1/namespaces/${ns}/configmaps/${CA_BUNDLE_CONFIGMAP}`, [200]);
  podTrust = bundle.body.data['ca.crt']!;
});

afterAll(() => client?.close());

describe("a labelled namespace's sidecar certificates, one role each", () => {
  it("the pods' bundle accepts the loopback serving certificate and refuses the sidecar's client certificate as a server", async () => {
    expect(await serverVerdict(pair('tls'), podTrust)).toBeUndefined();
    expect(await serverVerdict(pair('client'), podTrust)).toBe('INVALID_PURPOSE');
  });

  it('a bridge server (trusting the bridge root) authenticates the client certificate and refuses the loopback serving key as a client', async () => {
    const serving = await issueCertificate(issuers.componentServing, { commonName: 'bridge-server', ipAddresses: ['127.0.0.1'], usage: 'server' });
    const trust = bridgeRootPem(issuers);
    expect(await clientVerdict(pair('client'), serving, trust)).toEqual({ authorized: true, error: undefined });
    expect(await clientVerdict(pair('tls'), serving, trust)).toEqual({ authorized: false, error: 'INVALID_PURPOSE' });
  });
});
