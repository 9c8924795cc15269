// Each internal API answers exactly its own caller (DESIGN.md section 4), over real TLS with
// certificates issued as the bridge issues them: the synchronizer's catch-up API the aggregator only
// (a sidecar's question paused the configmaps mirror before), the routing table sidecars only. Each
// kind counts only from its own intermediate: the webhook holds the sidecars' one, and a component
// certificate minted with it (the aggregator's name and organization) is refused.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { issueComponentClientCert, issueComponentTlsFiles, issueSidecarClientCert } from '../../certs/bridge-certs.js';
import { AGGREGATOR_SERVICE, SYNCHRONIZER_SERVICE, WEBHOOK_SERVICE } from '../../lib/names.js';
import { classifyPeer } from '../../lib/tls/peer-certificate.js';
import { issueCertificate, type CertificateAndKey } from '../../lib/tls/pki.js';
import { generateBridgeAuthority } from '../../certs/bridge-authority.js';
import { ROUTING_TABLE_PATH } from '../../lib/routing/routing-table-protocol.js';
import { RoutingState } from '../../lib/routing/routing-state.js';
import { serveRoutingTable } from '../../aggregator/request/routing-table-endpoint.js';
import { startCatchUpServer } from '../../synchronizer/catchup-server.js';
import type { ShardMirror } from '../../synchronizer/shard-mirror.js';
import { mirrorTarget } from '../../synchronizer/catchup-target.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';

let ca: CertificateAndKey;
let callers: Record<
  'aggregator' | 'synchronizer' | 'webhook' | 'sidecar' | 'stranger' | 'mintedByWebhook' | 'sidecarFromComponentCa' | 'none',
  CertificateAndKey | undefined
>;
let catchUp: Server;
let aggregator: Server;
const paused: string[] = [];

/** A mirror of configmaps from the source that has copied everything up to revision 10. */
const mirror = { shard: 'configmaps', owner: { side: 'source' }, syncedRV: 10n, failingObjects: [], reconcile: async () => {} } as unknown as ShardMirror;

function get(port: number, path: string, caller: CertificateAndKey | undefined): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca: ca.certPem, cert: caller?.certPem, key: caller?.keyPem, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  const authority = await generateBridgeAuthority('internal-callers-ca');
  ca = authority.root;
  const { issuers } = authority;
  const serving = await issueComponentTlsFiles(issuers, SYNCHRONIZER_SERVICE, { ipAddresses: ['127.0.0.1'] });
  callers = {
    aggregator: await issueComponentClientCert(issuers.componentClient, AGGREGATOR_SERVICE),
    synchronizer: await issueComponentClientCert(issuers.componentClient, SYNCHRONIZER_SERVICE),
    webhook: await issueComponentClientCert(issuers.componentClient, WEBHOOK_SERVICE),
    sidecar: await issueSidecarClientCert(issuers.client, { namespace: 'lab-apps' }),
    // Under the components' intermediate, with the aggregator's name but not as the bridge issues component certificates.
    stranger: await issueCertificate(issuers.componentClient, { commonName: AGGREGATOR_SERVICE, usage: 'client' }),
    // What a compromised webhook could make: the aggregator's exact identity, under the sidecars' intermediate it holds.
    mintedByWebhook: await issueComponentClientCert(issuers.client, AGGREGATOR_SERVICE),
    // A sidecar's identity under the components' intermediate: the bridge never issues one.
    sidecarFromComponentCa: await issueSidecarClientCert(issuers.componentClient, { namespace: 'lab-apps' }),
    none: undefined,
  };
  catchUp = await startCatchUpServer({
    host: '127.0.0.1',
    port: 0,
    tls: { cert: serving['tls.crt'], key: serving['tls.key'], ca: serving['ca.crt'] },
    targetFor: (shard) => (shard === 'configmaps' ? mirrorTarget(mirror) : undefined),
    leading: () => true,
    onCaughtUp: (target) => paused.push(target.shard),
    log: silentLog,
  }).catch((err: unknown) => {
    throw err;
  });
  const routing = new RoutingState();
  aggregator = createServer({ cert: serving['tls.crt'], key: serving['tls.key'], ca: ca.certPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    if (!serveRoutingTable(routing, undefined, req, res)) res.writeHead(404).end();
  });
  aggregator.listen(0, '127.0.0.1');
  await once(aggregator, 'listening');
});

afterAll(() => {
  for (const server of [catchUp, aggregator]) {
    server?.closeAllConnections();
    server?.close();
  }
});

const port = (server: Server) => (server.address() as AddressInfo).port;
const QUESTION = '/v1/catchup?shard=configmaps&from=source&rv=0&timeoutSeconds=1';

describe("the synchronizer's catch-up API", () => {
  it.each(['sidecar', 'synchronizer', 'webhook', 'stranger', 'mintedByWebhook'] as const)('refuses %s with 403 and pauses nothing', async (who) => {
    paused.length = 0;
    const answer = await get(port(catchUp), QUESTION, callers[who]);
    expect(answer.status).toBe(403);
    expect(answer.body).toContain(`answers the ${AGGREGATOR_SERVICE} only`);
    expect(paused).toEqual([]);
  });

  it('refuses a connection without a client certificate at the handshake', async () => {
    await expect(get(port(catchUp), QUESTION, undefined)).rejects.toThrow();
  });

  it("answers the aggregator's question (and a waiting one pauses the mirror, as a hand-off needs)", async () => {
    paused.length = 0;
    const answer = await get(port(catchUp), QUESTION, callers.aggregator);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ shard: 'configmaps', from: 'source', caughtUp: true, syncedRV: '10' });
    expect(paused).toEqual(['configmaps']);
  });
});

describe("the aggregator's routing-table endpoint", () => {
  it.each(['aggregator', 'synchronizer', 'webhook', 'stranger', 'sidecarFromComponentCa', 'none'] as const)('refuses %s with 403', async (who) => {
    const answer = await get(port(aggregator), ROUTING_TABLE_PATH, callers[who]);
    expect(answer.status).toBe(403);
  });

  it('serves a sidecar', async () => {
    const answer = await get(port(aggregator), ROUTING_TABLE_PATH, callers.sidecar);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toHaveProperty('shards');
  });
});

describe('classifyPeer', () => {
  const sidecars = { CN: 'cluster-bridge-client-ca' };
  const components = { CN: 'cluster-bridge-component-client-ca' };
  it.each([
    ['an unverified certificate', false, { O: 'cluster-bridge:sidecars' }, sidecars, { kind: 'anonymous' }],
    [
      'a sidecar',
      true,
      { O: ['cluster-bridge:sidecars', 'cluster-bridge:namespace:a'], CN: 'cluster-bridge-sidecar.a' },
      sidecars,
      { kind: 'sidecar', namespace: 'a' },
    ],
    ['a sidecar of no namespace', true, { O: 'cluster-bridge:sidecars', CN: 'cluster-bridge-sidecar' }, sidecars, { kind: 'sidecar' }],
    ['a sidecar from the components’ intermediate', true, { O: 'cluster-bridge:sidecars', CN: 'cluster-bridge-sidecar' }, components, { kind: 'anonymous' }],
    [
      'a component',
      true,
      { O: 'cluster-bridge:components', CN: 'cluster-bridge-aggregator' },
      components,
      { kind: 'component', name: 'cluster-bridge-aggregator' },
    ],
    ['a component from the sidecars’ intermediate', true, { O: 'cluster-bridge:components', CN: 'cluster-bridge-aggregator' }, sidecars, { kind: 'anonymous' }],
    ['a component from an unknown CA', true, { O: 'cluster-bridge:components', CN: 'cluster-bridge-aggregator' }, { CN: 'bridge-ca' }, { kind: 'anonymous' }],
    ['both at once', true, { O: ['cluster-bridge:components', 'cluster-bridge:sidecars'], CN: 'cluster-bridge-aggregator' }, components, { kind: 'anonymous' }],
    ['a component with two names', true, { O: 'cluster-bridge:components', CN: ['a', 'b'] }, components, { kind: 'anonymous' }],
    ['neither', true, { O: 'system:masters', CN: 'cluster-bridge-aggregator' }, components, { kind: 'anonymous' }],
  ])('%s', (_what, authorized, subject, issuer, expected) => {
    expect(classifyPeer(authorized, { subject, issuer })).toEqual(expected);
  });
});
