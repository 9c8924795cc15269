// The aggregator's front door against the lab's real source kube-apiserver: the same request sent
// straight to the source and through the aggregator gets the same decision (status, and for refusals
// the same message), for impersonation (legacy and 1.36's constrained checks), for paths with encoded
// characters, and for requests without credentials; unknown tokens spend a review budget. A lab of its
// own: the moves fence the source.
import { stopPrivateLab } from '../helpers/private-lab.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { request, type RequestOptions } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLabBridge, type LabBridge } from '../helpers/bridge-lab.js';
import { createNamespace, kubeconfigPath, kubectl, kubectlOk } from '../helpers/lab-clients.js';
import { shippedAggregatorDestinationKubeconfig, shippedAggregatorSourceKubeconfig } from '../helpers/shipped-source-identity.js';
import { serviceAccountToken } from '../helpers/sidecar-lab.js';
import { loadKubeConfig } from '../../lib/kube/rest-client.js';
import { waitUntil } from '../../lib/wait-until.js';

let bridge: LabBridge;
let namespace: string;
/** edit in the namespace. */
let token: string;
/** edit in the namespace, and impersonate on users only. */
let impersonator: string;
let source: { server: string; ca: RequestOptions['ca'] };

interface Answer {
  status: number;
  body: { message?: string; metadata?: { uid?: string }; items?: unknown[] };
}

/** One request with its path sent exactly as given (no URL normalisation), to `base`. */
function raw(
  base: string,
  ca: RequestOptions['ca'],
  method: string,
  path: string,
  headers: Record<string, string | string[]>,
  localAddress?: string,
): Promise<Answer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ hostname: url.hostname, port: url.port, method, path, headers, ca, agent: false, localAddress }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let body: Answer['body'] = { message: text };
        try {
          body = JSON.parse(text) as Answer['body'];
        } catch {
          // Go's own 400 is plain text.
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const direct = (method: string, path: string, headers: Record<string, string | string[]> = {}) => raw(source.server, source.ca, method, path, headers);
const bridged = (method: string, path: string, headers: Record<string, string | string[]> = {}) =>
  raw(bridge.aggregatorUrl, bridge.bridgeCa.certPem, method, path, headers);
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

/** The same request both ways: status and message (for a refusal) must agree. */
async function sameDecision(method: string, path: string, headers: Record<string, string | string[]>): Promise<Answer> {
  const straight = await direct(method, path, headers);
  const through = await bridged(method, path, headers);
  expect({ status: through.status, message: through.status >= 400 ? through.body.message : undefined }).toEqual({
    status: straight.status,
    message: straight.status >= 400 ? straight.body.message : undefined,
  });
  return through;
}

beforeAll(async () => {
  const access = loadKubeConfig(kubeconfigPath('source'));
  const opts: RequestOptions = {};
  await access.applyToHTTPSOptions(opts);
  source = { server: access.server, ca: opts.ca };
  namespace = await createNamespace('source', 'frontdoor');
  token = await serviceAccountToken(namespace);
  impersonator = await serviceAccountToken(namespace, 'impersonator');
  await kubectlOk('source', ['create', 'clusterrole', `${namespace}-impersonate-users`, '--verb=impersonate', '--resource=users']);
  await kubectlOk('source', [
    'create',
    'clusterrolebinding',
    `${namespace}-impersonate-users`,
    `--clusterrole=${namespace}-impersonate-users`,
    `--serviceaccount=${namespace}:impersonator`,
  ]);
  // The Secret the finding read: named like the configmaps collection.
  await kubectlOk('source', ['-n', namespace, 'create', 'secret', 'generic', 'configmaps', '--from-literal=k=source']);
  const aggregatorSourceKubeconfig = await shippedAggregatorSourceKubeconfig(mkdtempSync(join(tmpdir(), 'bridge-frontdoor-source-')));
  bridge = await startLabBridge({
    namespace,
    aggregatorSourceKubeconfig,
    // Every request here comes from 127.0.0.1: a budget small enough that a burst surely exceeds it.
    beforeAggregator: async (env) => {
      env.BRIDGE_UNKNOWN_TOKEN_REVIEWS_PER_SECOND = '5';
      // It acts as the callers in the destination with exactly the shipped (constrained) impersonation rights.
      env.BRIDGE_DESTINATION_KUBECONFIG = await shippedAggregatorDestinationKubeconfig(mkdtempSync(join(tmpdir(), 'bridge-frontdoor-destination-')));
    },
  });
  await waitUntil('the RoleBindings mirrored to the destination', async () =>
    (await kubectl('destination', ['-n', namespace, 'get', 'rolebinding', 'impersonator-edit', '-o', 'name'])).stdout.trim() ? true : undefined,
  );
  await bridge.aggregator.handoff!.changeOwner('configmaps', 'destination', 'e2e');
}, 300_000);

afterAll(async () => {
  await kubectl('source', ['delete', 'clusterrolebinding,clusterrole', `${namespace}-impersonate-users`]);
  await bridge?.close();
  await stopPrivateLab();
}, 120_000);

describe('paths as kube-apiserver reads them (configmaps on the destination, secrets on the source)', () => {
  it('an encoded / is a / : the Secret named configmaps is read from its owner, the source (the finding)', async () => {
    const path = `/api/v1/namespaces/${namespace}%2Fsecrets/configmaps`;
    const sourceUid = (await direct('GET', `/api/v1/namespaces/${namespace}/secrets/configmaps`, bearer(token))).body.metadata?.uid;
    expect(sourceUid).toBeTruthy();
    const answer = await sameDecision('GET', path, bearer(token));
    expect(answer.status).toBe(200);
    expect(answer.body.metadata?.uid).toBe(sourceUid);
  });

  it.each([
    ['%2E%2E in a segment', (ns: string) => `/api/v1/namespaces/${ns}/configmaps/%2E%2E/secrets`],
    ['.. in a segment', (ns: string) => `/api/v1/namespaces/${ns}/configmaps/../secrets`],
    ['an empty segment', (ns: string) => `/api/v1/namespaces/${ns}//secrets`],
    ['an encoded letter in the resource', (ns: string) => `/api/v1/namespaces/${ns}/secret%73/configmaps`],
    ['an encoded / in the version', (ns: string) => `/api%2Fv1/namespaces/${ns}/secrets/configmaps`],
    ['a malformed escape', (ns: string) => `/api/v1/namespaces/${ns}/secrets/%zz`],
    ['a query pair with ;', (ns: string) => `/api/v1/namespaces/${ns}/configmaps?watch=1;x=y`],
  ])('%s: the same answer both ways', async (_what, path) => {
    await sameDecision('GET', path(namespace), bearer(token));
  });
});

/** A WebSocket watch (kube-apiserver serves watches over WebSocket): the socket, and the status line of its answer. */
async function webSocketWatch(base: string, ca: RequestOptions['ca'], path: string): Promise<{ status: string; closed: Promise<unknown> }> {
  const url = new URL(base);
  const socket = tlsConnect({ host: url.hostname, port: Number(url.port), ca, servername: url.hostname === '127.0.0.1' ? undefined : url.hostname });
  socket.on('error', () => undefined);
  const closed = new Promise((resolve) => socket.once('close', resolve));
  const head = new Promise<string>((resolve) => {
    let text = '';
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (text.includes('\r\n')) resolve(text.slice(0, text.indexOf('\r\n')));
    });
    socket.once('close', () => resolve(text));
  });
  socket.write(
    [
      `GET ${path} HTTP/1.1`,
      `Host: ${url.host}`,
      `Authorization: Bearer ${token}`,
      'Connection: Upgrade',
      'Upgrade: websocket',
      'Origin: http://localhost',
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      '',
      '',
    ].join('\r\n'),
  );
  const status = await head;
  setTimeout(() => socket.destroy(), 60_000).unref();
  return { status, closed };
}

describe('upgrades of movable shards (WebSocket watches)', () => {
  const watchPath = (resource: string) => `/api/v1/namespaces/${namespace}/${resource}?watch=1`;

  it('a shard still in epoch 0 is watched over WebSocket as on the source, and the watch ends when the shard changes owner', async () => {
    const straight = await webSocketWatch(source.server, source.ca, watchPath('secrets'));
    expect(straight.status).toMatch(/^HTTP\/1.1 101/);
    const through = await webSocketWatch(bridge.aggregatorUrl, bridge.bridgeCa.certPem, watchPath('secrets'));
    expect(through.status).toMatch(/^HTTP\/1.1 101/);
    await bridge.aggregator.handoff!.changeOwner('secrets', 'destination', 'e2e');
    // The hand-off closes the shard's watches, the upgraded ones too (a raw stream of the old owner's RVs otherwise).
    await expect(Promise.race([through.closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('open'), 10_000))])).resolves.toBe('closed');
  });

  it('a shard whose resourceVersions the bridge rewrites refuses the upgrade (its frames pass unread)', async () => {
    const through = await webSocketWatch(bridge.aggregatorUrl, bridge.bridgeCa.certPem, watchPath('configmaps'));
    expect(through.status).toMatch(/^HTTP\/1.1 400/);
  });
});

describe('impersonation, decided as the source decides it (secrets on the destination since the upgrade tests)', () => {
  const secrets = () => `/api/v1/namespaces/${namespace}/secrets`;
  const as = (headers: Record<string, string | string[]>) => ({ ...bearer(impersonator), ...headers });

  it('a ServiceAccount allowed to impersonate users only does not become the garbage collector (the finding)', async () => {
    const answer = await sameDecision('GET', secrets(), as({ 'Impersonate-User': 'system:serviceaccount:kube-system:generic-garbage-collector' }));
    expect(answer.status).toBe(403);
  });

  // In this order both ways: 1.36 tries first the mode that last worked for the requestor, which words the refusals.
  it.each([
    ['a user it may impersonate, who may not list secrets', { 'Impersonate-User': 'alice' }, 403],
    ['that user with a group', { 'Impersonate-User': 'alice', 'Impersonate-Group': ['g1', 'g2'] }, 403],
    ['that user with a uid', { 'Impersonate-User': 'alice', 'Impersonate-Uid': 'u-1' }, 403],
    ['that user with an extra', { 'Impersonate-User': 'alice', 'Impersonate-Extra-Example.com%2Fteam': 'a' }, 403],
    ['a group without a user', { 'Impersonate-Group': 'g1' }, 400],
  ])('%s', async (_what, headers, status) => {
    expect((await sameDecision('GET', secrets(), as(headers))).status).toBe(status);
  });

  it('a node: 403 both ways, the destination refusing the bridge itself, which may act as no node (docs/adr/0022)', async () => {
    const headers = as({ 'Impersonate-User': 'system:node:n1' });
    expect((await direct('GET', secrets(), headers)).status).toBe(403);
    const through = await bridged('GET', secrets(), headers);
    expect(through.status).toBe(403);
    expect(through.body.message).toContain('system:serviceaccount:cluster-bridge-system:cluster-bridge-aggregator');
  });

  it('with impersonate on kube-system ServiceAccounts granted, the garbage collector lists the Secrets both ways', async () => {
    await kubectlOk('source', ['-n', 'kube-system', 'create', 'role', `${namespace}-impersonate-sa`, '--verb=impersonate', '--resource=serviceaccounts']);
    await kubectlOk('source', [
      '-n',
      'kube-system',
      'create',
      'rolebinding',
      `${namespace}-impersonate-sa`,
      `--role=${namespace}-impersonate-sa`,
      `--serviceaccount=${namespace}:impersonator`,
    ]);
    try {
      const headers = as({ 'Impersonate-User': 'system:serviceaccount:kube-system:generic-garbage-collector' });
      await waitUntil('the grant seen through the bridge', async () => ((await bridged('GET', secrets(), headers)).status === 200 ? true : undefined));
      await sameDecision('GET', secrets(), headers);
    } finally {
      await kubectl('source', ['-n', 'kube-system', 'delete', 'rolebinding,role', `${namespace}-impersonate-sa`]);
    }
  });

  it('no token: the anonymous user, refused as the source refuses it', async () => {
    expect((await sameDecision('GET', secrets(), {})).status).toBe(403);
  });

  it('a burst of unknown tokens from one peer runs out of review budget (429) while another peer with a new token is served', async () => {
    // A token the aggregator has not seen, for a client at another address (the lab's loopback has many).
    const fresh = (await kubectlOk('source', ['-n', namespace, 'create', 'token', 'tester', '--duration=1h'])).trim();
    const answers = await Promise.all(Array.from({ length: 120 }, (_, i) => bridged('GET', secrets(), bearer(`not-a-token-${i}`))));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    const other = await raw(bridge.aggregatorUrl, bridge.bridgeCa.certPem, 'GET', secrets(), bearer(fresh), '127.0.0.2');
    expect(other.status).toBe(200);
  });
});
