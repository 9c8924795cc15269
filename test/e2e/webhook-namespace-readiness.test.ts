/**
 * What keeps the webhook from injecting pods that would wait in ContainerCreating, on the lab's real
 * API server: the readiness view follows the CA bundle ConfigMap and the sidecar TLS Secret per
 * namespace by watch (metadata only), and a label change reaches a watcher at once (no poll period).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { listAndWatch } from '../../lib/kube/list-watch.js';
import { createLogger } from '../../lib/process/logger.js';
import { CA_BUNDLE_CONFIGMAP, SIDECAR_TLS_SECRET } from '../../lib/names.js';
import { waitUntil } from '../../lib/wait-until.js';
import { NamespaceReadiness } from '../../webhook/namespace-readiness.js';
import { createNamespace, kubeconfigPath, kubectlOk, uniqueName } from '../helpers/lab-clients.js';

const log = createLogger('readiness-e2e', { level: 'silent' });
let client: KubeRestClient;

beforeAll(() => {
  client = KubeRestClient.load(kubeconfigPath('source'));
});

afterAll(() => client.close());

describe('namespace readiness', () => {
  it('is ready for sidecar mode only while both the CA bundle ConfigMap and the TLS Secret exist, for DNS mode with the bundle', async () => {
    const readiness = new NamespaceReadiness(client, log);
    try {
      const ns = await createNamespace('source', 'ready');
      // Until both lists arrived nothing is known and pods are injected as before.
      await waitUntil('the first lists', () => !readiness.isReady(ns, 'dns'));
      await kubectlOk('source', ['-n', ns, 'create', 'configmap', CA_BUNDLE_CONFIGMAP, '--from-literal=ca.crt=x']);
      await waitUntil('the namespace to become ready for DNS mode', () => readiness.isReady(ns, 'dns'));
      expect(readiness.isReady(ns, 'sidecar')).toBe(false);
      await kubectlOk('source', ['-n', ns, 'create', 'secret', 'generic', SIDECAR_TLS_SECRET, '--from-literal=tls.crt=x']);
      await waitUntil('the namespace to become ready for sidecar mode', () => readiness.isReady(ns, 'sidecar'));
      await kubectlOk('source', ['-n', ns, 'delete', 'secret', SIDECAR_TLS_SECRET]);
      await waitUntil('the namespace to be not ready again', () => !readiness.isReady(ns, 'sidecar'));
      expect(readiness.isReady(ns, 'dns')).toBe(true);
    } finally {
      readiness.stop();
    }
  });

  it('hears of a namespace by watch as soon as it is labelled, and of its unlabelling', async () => {
    const label = uniqueName('watched');
    const seen: string[] = [];
    const watch = listAndWatch<{ metadata: { name: string } }>(
      client,
      `/api/v1/namespaces?labelSelector=${encodeURIComponent(`e2e-watch=${label}`)}`,
      {
        onList: (items) => seen.push('listed', ...items.map((n) => `list:${n.metadata.name}`)),
        onEvent: (type, n) => seen.push(`${type}:${n.metadata.name}`),
      },
      { log },
    );
    try {
      const ns = await createNamespace('source', 'watched');
      await waitUntil('the first list', () => seen.includes('listed'));
      await kubectlOk('source', ['label', 'namespace', ns, `e2e-watch=${label}`]);
      await waitUntil('the label change to arrive', () => seen.some((s) => s.endsWith(`:${ns}`)));
      await kubectlOk('source', ['label', 'namespace', ns, 'e2e-watch-']);
      await waitUntil('the label removal to arrive', () => seen.includes(`DELETED:${ns}`));
      // One list, then the watch's events: no list again (a poll or a re-list would show here).
      expect(seen).toEqual(['listed', `ADDED:${ns}`, `DELETED:${ns}`]);
    } finally {
      watch.stop();
    }
  });
});
