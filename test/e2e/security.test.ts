// Hostile callers on the lab's real API servers (issue 21), with the whole bridge running: a sidecar's
// certificate asks the synchronizer's catch-up API to pause a mirror; with shards moved, a status patch
// of a Service and a kube-system service account write the source behind the fence; the source's own
// controllers still do what they must through it. A lab of its own: the moves fence the source.
import { stopPrivateLab } from '../helpers/private-lab.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFenceProblem } from '../../aggregator/handoff/fence-support.js';
import { issueComponentClientCert, issueSidecarClientCert } from '../../certs/bridge-certs.js';
import { AGGREGATOR_SERVICE } from '../../lib/names.js';
import type { CertificateAndKey } from '../../lib/tls/pki.js';
import { FENCE_REFUSAL_TEXT } from '../../lib/routing/fence-message.js';
import { waitUntil } from '../../lib/wait-until.js';
import { startLabBridge, type LabBridge } from '../helpers/bridge-lab.js';
import { createNamespace, kubectl, kubectlOk, uniqueName } from '../helpers/lab-clients.js';
import { serviceAccountKubeconfig } from '../helpers/shipped-source-identity.js';

let bridge: LabBridge;
let namespace: string;

/** A question that waits (timeoutSeconds > 0) pauses the mirror when it is answered caught up, as a hand-off needs. */
function askCatchUp(caller: CertificateAndKey, timeoutSeconds: number): Promise<{ status: number; body: string }> {
  const path = `/v1/catchup?shard=configmaps&from=source&rv=0&timeoutSeconds=${timeoutSeconds}`;
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: bridge.synchronizer.port, path, ca: bridge.bridgeCa.certPem, cert: caller.certPem, key: caller.keyPem, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const inDestination = (kind: string, name: string, ns = namespace) =>
  waitUntil(
    `${kind} ${ns}/${name} in the destination`,
    async () => ((await kubectl('destination', ['-n', ns, 'get', kind, name, '-o', 'name'])).code === 0 ? true : undefined),
    {
      timeoutMs: 60_000,
    },
  );

/** `kubectl patch --subresource=status` of the Service web, as `who` (a lab cluster or a kubeconfig). */
const patchStatus = (who: string, patch: string) =>
  kubectl(who, ['-n', namespace, 'patch', 'service', 'web', '--subresource=status', '--type=merge', '-p', patch]);

beforeAll(async () => {
  namespace = await createNamespace('source', 'security');
  bridge = await startLabBridge({ namespace });
  await kubectlOk('source', ['-n', namespace, 'create', 'service', 'clusterip', 'web', '--tcp=80:8080']);
  await inDestination('service', 'web');
}, 240_000);

afterAll(async () => {
  await bridge?.close();
  await stopPrivateLab();
}, 120_000);

describe("the synchronizer's catch-up API on the lab", () => {
  // Before the fix this answered 200 and paused the configmaps mirror: later ConfigMaps never reached the destination.
  it("refuses a sidecar's certificate, and the mirror keeps copying", async () => {
    const answer = await askCatchUp(await issueSidecarClientCert(bridge.issuers.client, { namespace }), 1);
    expect(answer.status).toBe(403);
    expect(bridge.synchronizer.mirrors.get('configmaps')?.paused).toBe(false);
    await kubectlOk('source', ['-n', namespace, 'create', 'configmap', 'after-question', '--from-literal=k=v']);
    await inDestination('configmap', 'after-question');
  });

  // The webhook holds the sidecars' intermediate to provision namespaces: a certificate it mints with the
  // aggregator's exact name and organization is still not the aggregator (ADR 0021).
  it("refuses the aggregator's identity issued by the sidecars' intermediate", async () => {
    const answer = await askCatchUp(await issueComponentClientCert(bridge.issuers.client, AGGREGATOR_SERVICE), 0);
    expect(answer.status).toBe(403);
    expect(answer.body).toContain('a caller with no client identity the bridge issued');
  });

  it("answers the aggregator's identity (a question that does not wait, so nothing pauses)", async () => {
    const answer = await askCatchUp(await issueComponentClientCert(bridge.issuers.componentClient, AGGREGATOR_SERVICE), 0);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ shard: 'configmaps', from: 'source', caughtUp: true });
  });
});

describe('the fence on the lab, with services and configmaps in the destination', () => {
  let rogue: string;

  beforeAll(async () => {
    // A writer in kube-system that the bridge does not know: it may edit everything (RBAC), and the fence alone stops it.
    await kubectlOk('source', ['-n', 'kube-system', 'create', 'serviceaccount', 'rogue-writer']);
    await kubectlOk('source', [
      'create',
      'clusterrolebinding',
      uniqueName('rogue-writer'),
      '--clusterrole=cluster-admin',
      '--serviceaccount=kube-system:rogue-writer',
    ]);
    rogue = await serviceAccountKubeconfig(mkdtempSync(join(tmpdir(), 'rogue-')), 'kube-system', 'rogue-writer');
    await kubectlOk('source', ['-n', namespace, 'create', 'configmap', 'doomed', '--from-literal=k=v']);
    await inDestination('configmap', 'doomed');
    for (const shard of ['services', 'configmaps']) await bridge.aggregator.handoff!.changeOwner(shard, 'destination', 'e2e');
    expect(await readFenceProblem(bridge.destination)).toBeUndefined(); // 1.30 or later: enforceable, recorded so
  }, 120_000);

  it('refuses a status patch of a moved Service as it refuses a plain one', async () => {
    const plain = await kubectl('source', ['-n', namespace, 'patch', 'service', 'web', '--type=merge', '-p', '{"metadata":{"labels":{"forked":"yes"}}}']);
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toContain(FENCE_REFUSAL_TEXT.slice(0, 40));
    // Before the fix: "service/web patched".
    // Valid for a ClusterIP Service (a load-balancer ingress is not), so only admission can refuse it.
    const status = await patchStatus(
      'source',
      '{"status":{"conditions":[{"type":"Forked","status":"True","reason":"Test","message":"through the status","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}',
    );
    expect(status.stdout).not.toContain('patched');
    expect(status.code).not.toBe(0);
    expect(status.stderr).toContain(`services ${FENCE_REFUSAL_TEXT.slice(0, 40)}`);
  });

  // Before the fix every kube-system service account was exempt: this create forked the configmaps shard.
  it('refuses an un-bridged writer in kube-system', async () => {
    const forked = await kubectl(rogue, ['-n', namespace, 'create', 'configmap', 'forked', '--from-literal=k=v']);
    expect(forked.code).not.toBe(0);
    expect(forked.stderr).toContain(`configmaps ${FENCE_REFUSAL_TEXT.slice(0, 40)}`);
    const patched = await patchStatus(rogue, '{"status":{"conditions":[]}}');
    expect(patched.code).not.toBe(0);
  });

  it("lets the source's own controllers through for what they must write: kube-root-ca.crt, default ServiceAccounts, a namespace's deletion", async () => {
    const fresh = await createNamespace('source', 'security-fresh');
    const published = await waitUntil('kube-root-ca.crt published in a new namespace', async () => {
      const got = await kubectl('source', ['-n', fresh, 'get', 'configmap', 'kube-root-ca.crt', '-o', 'jsonpath={.data.ca\\.crt}']);
      return got.code === 0 ? got.stdout : undefined;
    });
    expect(published).toContain('BEGIN CERTIFICATE');
    const account = await waitUntil('the default ServiceAccount of a new namespace', async () => {
      const got = await kubectl('source', ['-n', fresh, 'get', 'serviceaccount', 'default', '-o', 'name']);
      return got.code === 0 ? got.stdout.trim() : undefined;
    });
    expect(account).toBe('serviceaccount/default');
    // The namespace controller empties a deleted namespace of fenced ConfigMaps and Services.
    await kubectlOk('source', ['delete', 'namespace', namespace, '--wait=false']);
    await waitUntil(
      `namespace ${namespace} gone from the source`,
      async () => ((await kubectl('source', ['get', 'namespace', namespace, '-o', 'name'])).code !== 0 ? true : undefined),
      { timeoutMs: 90_000 },
    );
    expect((await kubectl('source', ['get', 'namespace', namespace])).stderr).toContain('NotFound');
  });
});
