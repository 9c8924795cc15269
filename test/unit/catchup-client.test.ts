/**
 * The aggregator's catch-up client against a real mTLS server: a standby synchronizer's 503 is asked
 * again until the deadline (the leader may answer by then), and every other failure is reported at once.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { CatchUpStatus } from '../../lib/mirror/catchup.js';
import { CatchUpClient } from '../../lib/mirror/catchup-client.js';
import { testPki, type TestPki } from '../helpers/sidecar-fixtures.js';

type Answer = { code: number; body: object };

let pki: TestPki;
let server: Server;
let answers: Answer[] = [];
let asked = 0;
/** Set: the server drops, unanswered, the next this many requests that come on a connection it answered before. */
let dropOnReused = 0;
const answeredSockets = new WeakSet<object>();
let client: CatchUpClient;

const caughtUp: CatchUpStatus = { shard: 'configmaps', from: 'source', caughtUp: true, syncedRV: '42' };
const query = { shard: 'configmaps', from: 'source' as const, rv: '42' };

beforeAll(async () => {
  pki = await testPki();
  server = createServer({ cert: pki.backend.certPem, key: pki.backend.keyPem, ca: pki.ca.certPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    if (dropOnReused > 0 && answeredSockets.has(req.socket)) {
      dropOnReused--;
      return void req.socket.destroy(); // as a keep-alive timeout closing the connection as the request arrives
    }
    answeredSockets.add(req.socket);
    asked++;
    const answer = answers.shift() ?? { code: 503, body: { message: 'standing by' } };
    const text = JSON.stringify(answer.body);
    res.writeHead(answer.code, { 'content-type': 'application/json', ...(answer.code === 503 ? { 'retry-after': '1' } : {}) }).end(text);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  client = new CatchUpClient({
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    caPem: pki.ca.certPem,
    certPem: pki.client.certPem,
    keyPem: pki.client.keyPem,
  });
});

afterAll(() => {
  client.close();
  server.closeAllConnections();
  server.close();
});

function answering(...next: Answer[]): void {
  answers = next;
  asked = 0;
}

describe('catch-up client', () => {
  it('asks a standby again until the leader answers', async () => {
    answering({ code: 503, body: { message: 'standing by' } }, { code: 503, body: { message: 'standing by' } }, { code: 200, body: caughtUp });
    await expect(client.waitFor(query, 10_000)).resolves.toEqual(caughtUp);
    expect(asked).toBe(3);
  });

  it('asks once more, on a new connection, when a kept-alive connection is closed under its question', async () => {
    answering({ code: 200, body: caughtUp }, { code: 200, body: caughtUp });
    await expect(client.status(query)).resolves.toEqual(caughtUp);
    dropOnReused = 1;
    await expect(client.waitFor(query, 5000)).resolves.toEqual(caughtUp);
    // The dropped question was asked again and answered: the second answer was used.
    expect([asked, dropOnReused, answers.length]).toEqual([2, 0, 0]);
  });

  it('gives up on a standby at the deadline, saying so', async () => {
    answering();
    await expect(client.waitFor(query, 2500)).rejects.toMatchObject({
      code: 'BRIDGE_ERR_HANDOFF_TIMEOUT',
      message: expect.stringContaining('HTTP 503'),
    });
    expect(asked).toBeGreaterThanOrEqual(2);
  });

  it('reports a side not caught up by the deadline, and other errors at once', async () => {
    answering({ code: 200, body: { ...caughtUp, caughtUp: false, syncedRV: '40' } });
    await expect(client.waitFor(query, 5000)).rejects.toMatchObject({ message: expect.stringContaining('reached source RV 40, not 42') });
    answering({ code: 400, body: { message: 'bad parameters' } });
    await expect(client.waitFor(query, 5000)).rejects.toMatchObject({ message: expect.stringContaining('HTTP 400') });
    expect(asked).toBe(1);
    answering({ code: 503, body: { message: 'standing by' } });
    await expect(client.status(query)).rejects.toMatchObject({ message: expect.stringContaining('HTTP 503') });
    expect(asked).toBe(1);
  });
});
