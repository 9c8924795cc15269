import { describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { kubeconfigPath } from '../../lab/lab-files.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { createLogger } from '../../lib/process/logger.js';
import { splitPemBundle } from '../../lib/tls/pki.js';
import { generateBridgeAuthority } from '../../certs/bridge-authority.js';
import { INJECT_LABEL } from '../../webhook/constants.js';
import { LeaderLease } from '../../lib/kube/leader-lease.js';
import { NamespaceReconciler } from '../../webhook/namespace-reconciler.js';
import { E2E_WEBHOOK_LABEL } from '../../lib/names.js';
import { createNamespace, kubectl, kubectlOk, uniqueName } from '../helpers/lab-clients.js';
import { waitUntil } from '../../lib/wait-until.js';

const log = createLogger('webhook-e2e', { level: 'silent' });

describe('namespace reconciler against the lab', () => {
  it('keeps the CA bundle ConfigMap and sidecar TLS Secret in labelled namespaces and removes them when the label goes', async () => {
    const client = KubeRestClient.load(kubeconfigPath('source'));
    try {
      const { root: bridgeCa, issuers } = await generateBridgeAuthority('reconciler-e2e-ca');
      const reconciler = new NamespaceReconciler({ client, issuers, log });
      const ns = await createNamespace('source', 'wh-rec', { [INJECT_LABEL]: 'enabled', [E2E_WEBHOOK_LABEL]: uniqueName('rec') });
      await waitUntil('kube-root-ca.crt and a reconciled namespace', async () => ((await reconciler.reconcileNamespace(ns)) ? true : undefined));
      const bundle = await kubectlOk('source', ['-n', ns, 'get', 'configmap', 'cluster-bridge-ca-bundle', '-o', 'jsonpath={.data.ca\\.crt}']);
      const rootCa = await kubectlOk('source', ['-n', ns, 'get', 'configmap', 'kube-root-ca.crt', '-o', 'jsonpath={.data.ca\\.crt}']);
      const fingerprints = splitPemBundle(bundle).map((p) => new X509Certificate(p).fingerprint256);
      expect(fingerprints).toEqual([new X509Certificate(rootCa).fingerprint256, new X509Certificate(bridgeCa.certPem).fingerprint256]);
      const secret = JSON.parse(await kubectlOk('source', ['-n', ns, 'get', 'secret', 'cluster-bridge-sidecar-tls', '-o', 'json'])) as {
        type: string;
        data: Record<string, string>;
      };
      expect(secret.type).toBe('kubernetes.io/tls');
      const servingPem = Buffer.from(secret.data['tls.crt']!, 'base64').toString();
      // Serving from the serving intermediate, the client certificate from the client one; the pods trust the root (ADR 0021).
      expect(new X509Certificate(servingPem).verify(new X509Certificate(issuers.serving.certPem).publicKey)).toBe(true);
      const clientPem = Buffer.from(secret.data['client.crt']!, 'base64').toString();
      expect(new X509Certificate(clientPem).verify(new X509Certificate(issuers.client.certPem).publicKey)).toBe(true);
      // The client certificate speaks for this namespace only (the aggregator reads it from the subject).
      const clientSubject = new X509Certificate(Buffer.from(secret.data['client.crt']!, 'base64').toString()).subject.split('\n');
      expect(clientSubject).toContain(`O=cluster-bridge:namespace:${ns}`);

      // A second pass changes nothing (no churn of certificates).
      const rvBefore = await kubectlOk('source', ['-n', ns, 'get', 'secret', 'cluster-bridge-sidecar-tls', '-o', 'jsonpath={.metadata.resourceVersion}']);
      await reconciler.reconcileNamespace(ns);
      expect(await kubectlOk('source', ['-n', ns, 'get', 'secret', 'cluster-bridge-sidecar-tls', '-o', 'jsonpath={.metadata.resourceVersion}'])).toBe(rvBefore);

      await kubectlOk('source', ['label', 'namespace', ns, `${INJECT_LABEL}-`]);
      const labelled = new Set(await reconciler.labelledNamespaces());
      expect(labelled.has(ns)).toBe(false);
      expect(await reconciler.cleanup(labelled)).toBeGreaterThanOrEqual(2);
      expect((await kubectl('source', ['-n', ns, 'get', 'configmap', 'cluster-bridge-ca-bundle'])).code).not.toBe(0);
      expect((await kubectl('source', ['-n', ns, 'get', 'secret', 'cluster-bridge-sidecar-tls'])).code).not.toBe(0);
    } finally {
      client.close();
    }
  });

  it('keeps the objects of a namespace labelled after the list its cleanup pass was given', async () => {
    const client = KubeRestClient.load(kubeconfigPath('source'));
    try {
      const { issuers } = await generateBridgeAuthority('reconciler-race-ca');
      const reconciler = new NamespaceReconciler({ client, issuers, log });
      // The pass listed labelled namespaces before this one was labelled (another replica, or reconcileLabelled, made its objects).
      const staleList = new Set(await reconciler.labelledNamespaces());
      const ns = await createNamespace('source', 'wh-late', { [INJECT_LABEL]: 'enabled', [E2E_WEBHOOK_LABEL]: uniqueName('late') });
      await waitUntil('kube-root-ca.crt and a reconciled namespace', async () => ((await reconciler.reconcileNamespace(ns)) ? true : undefined));
      expect(staleList.has(ns)).toBe(false);
      await reconciler.cleanup(staleList);
      expect((await kubectl('source', ['-n', ns, 'get', 'configmap', 'cluster-bridge-ca-bundle'])).code).toBe(0);
      expect((await kubectl('source', ['-n', ns, 'get', 'secret', 'cluster-bridge-sidecar-tls'])).code).toBe(0);
    } finally {
      client.close();
    }
  });

  it('elects one leader on a Lease', async () => {
    const client = KubeRestClient.load(kubeconfigPath('source'));
    try {
      const ns = await createNamespace('source', 'wh-lease');
      const a = new LeaderLease(client, ns, 'reconciler', log);
      const b = new LeaderLease(client, ns, 'reconciler', log);
      expect(await a.tryAcquireOrRenew()).toBe(true);
      expect(await b.tryAcquireOrRenew()).toBe(false);
      expect(await a.tryAcquireOrRenew()).toBe(true);
      expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
      // b takes over only once a's lease has expired.
      expect(await b.tryAcquireOrRenew(new Date(Date.now() + 31_000))).toBe(true);
    } finally {
      client.close();
    }
  });
});
