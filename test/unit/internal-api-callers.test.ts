// Each internal API answers exactly its own caller (DESIGN.md section 4), over real TLS with
// certificates issued as the bridge issues them: the synchronizer's catch-up API the aggregator only
// (a sidecar's question paused the configmaps mirror before), the routing table sidecars only.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { issueComponentClientCert, issueComponentTlsFiles, issueSidecarClientCert } from '../../certs/bridge-certs.js';
import { AGGREGATOR_SERVICE, SYNCHRONIZER_SERVICE, WEBHOOK_SERVICE } from '../../lib/names.js';
import { classifyPeer } from '../../lib/tls/peer-certificate.js';
import { generateCa, issueCertificate, type CertificateAndKey } from '../../lib/tls/pki.js';
import { ROUTING_TABLE_PATH } from '../../lib/routing/routing-table-protocol.js';
import { RoutingState } from '../../lib/routing/routing-state.js';
import { serveRoutingTable } from '../../aggregator/request/routing-table-endpoint.js';
import { startCatchUpServer } from '../../synchronizer/catchup-server.js';
import type { ShardMirror } from '../../synchronizer/shard-mirror.js';
import { mirrorTarget } from '../../synchronizer/catchup-target.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';

let ca: CertificateAndKey;
let callers: Record<'aggregator' | 'synchronizer' | 'webhook' | 'sidecar' | 'stranger' | 'none', CertificateAndKey | undefined>;
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
  ca = await generateCa('internal-callers-ca');
  const serving = await issueComponentTlsFiles({ serving: ca, client: ca }, SYNCHRONIZER_SERVICE, { ipAddresses: ['127.0.0.1'] });
  callers = {
    aggregator: await issueComponentClientCert(ca, AGGREGATOR_SERVICE),
    synchronizer: await issueComponentClientCert(ca, SYNCHRONIZER_SERVICE),
    webhook: await issueComponentClientCert(ca, WEBHOOK_SERVICE),
    sidecar: await issueSidecarClientCert(ca, { namespace: 'lab-apps' }),
    // Signed by the same CA, with the aggregator's name but not as the bridge issues component certificates.
    stranger: await issueCertificate(ca, { commonName: AGGREGATOR_SERVICE, usage: 'client' }),
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
  it.each(['sidecar', 'synchronizer', 'webhook', 'stranger'] as const)('refuses %s with 403 and pauses nothing', async (who) => {
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
  it.each(['aggregator', 'synchronizer', 'webhook', 'stranger', 'none'] as const)('refuses %s with 403', async (who) => {
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
  it.each([
    ['an unverified certificate', false, { O: 'cluster-bridge:sidecars' }, { kind: 'anonymous' }],
    ['a sidecar', true, { O: ['cluster-bridge:sidecars', 'cluster-bridge:namespace:a'], CN: 'cluster-bridge-sidecar.a' }, { kind: 'sidecar' }],
    ['a component', true, { O: 'cluster-bridge:components', CN: 'cluster-bridge-aggregator' }, { kind: 'component', name: 'cluster-bridge-aggregator' }],
    ['both at once', true, { O: ['cluster-bridge:components', 'cluster-bridge:sidecars'], CN: 'cluster-bridge-aggregator' }, { kind: 'anonymous' }],
    ['a component with two names', true, { O: 'cluster-bridge:components', CN: ['a', 'b'] }, { kind: 'anonymous' }],
    ['neither', true, { O: 'system:masters', CN: 'cluster-bridge-aggregator' }, { kind: 'anonymous' }],
  ])('%s', (_what, authorized, subject, expected) => {
    expect(classifyPeer(authorized, subject)).toEqual(expected);
  });
});
