import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { waitUntil } from '../../lib/wait-until.js';
import { createHash, randomBytes } from 'node:crypto';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { WebSocket } from 'ws';
import { startUpgradeTestServer, SPDY_PROTOCOL, type UpgradeTestServer } from '../helpers/upgrade-test-server.js';
import { headerValues, startTestSidecar, testPki, type SidecarUnderTest, type TestPki } from '../helpers/sidecar-fixtures.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const STREAM_BYTES = 24 * 1024 * 1024;

describe('sidecar connection upgrades', () => {
  let pki: TestPki;
  let kubelet: UpgradeTestServer;
  let sidecar: SidecarUnderTest;

  beforeAll(async () => {
    pki = await testPki();
    kubelet = await startUpgradeTestServer(pki.backend);
    sidecar = await startTestSidecar(pki, { upstreamPort: kubelet.port, failMode: 'closed' });
  });

  afterAll(async () => {
    await sidecar.shutdown(1000);
    await kubelet.close();
  });

  it('pipes a WebSocket exec (v5.channel.k8s.io) with a large binary stream both ways', async () => {
    const ws = new WebSocket(
      `wss://127.0.0.1:${sidecar.port}/api/v1/namespaces/n/pods/p/exec?command=cat&stdin=true&stdout=true`,
      ['v5.channel.k8s.io', 'v4.channel.k8s.io'],
      {
        ca: pki.ca.certPem,
        headers: { Authorization: 'Bearer exec-token', 'Impersonate-User': 'system:admin' },
      },
    );
    const sent: Buffer[] = [];
    const echoed: Buffer[] = [];
    let negotiated: string | undefined;
    await new Promise<void>((resolve, reject) => {
      ws.on('error', reject);
      ws.on('open', () => {
        negotiated = ws.protocol;
        for (let i = 0; i < 24; i++) {
          const chunk = randomBytes(STREAM_BYTES / 24);
          sent.push(chunk);
          ws.send(chunk, { binary: true });
        }
      });
      let echoedBytes = 0;
      ws.on('message', (data: Buffer) => {
        echoed.push(data);
        echoedBytes += data.length;
        if (echoedBytes === STREAM_BYTES) ws.send('done');
      });
      ws.on('close', () => resolve());
    });
    const all = Buffer.concat(sent);
    expect(negotiated).toBe('v5.channel.k8s.io');
    expect(kubelet.received.at(-1)).toEqual({ protocol: 'v5.channel.k8s.io', sha256: sha256(all), bytes: STREAM_BYTES });
    expect(sha256(Buffer.concat(echoed))).toBe(sha256(all));
    const handshake = kubelet.handshakes.at(-1)!;
    expect(headerValues(handshake.rawHeaders, 'authorization')).toEqual(['Bearer exec-token']);
    // Impersonation passes through; the API server (or aggregator) authorizes it, never the sidecar.
    expect(headerValues(handshake.rawHeaders, 'impersonate-user')).toEqual(['system:admin']);
    expect(headerValues(handshake.rawHeaders, 'x-bridge-pod')).toEqual(['app-0']);
    expect(headerValues(handshake.rawHeaders, 'sec-websocket-protocol')).toEqual(['v5.channel.k8s.io,v4.channel.k8s.io']);
  });

  it('pipes a SPDY/3.1 upgrade raw with a large binary stream both ways', async () => {
    const payload = randomBytes(STREAM_BYTES);
    const socket = connect({ host: '127.0.0.1', port: sidecar.port, ca: pki.ca.certPem });
    await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    socket.write(
      'POST /api/v1/namespaces/n/pods/p/portforward HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer pf-token\r\n' +
        `Connection: Upgrade\r\nUpgrade: ${SPDY_PROTOCOL}\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\nContent-Length: 0\r\n\r\n`,
    );
    const received: Buffer[] = [];
    let head: string | undefined;
    let pending = Buffer.alloc(0);
    let receivedBytes = 0;
    const done = new Promise<void>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        if (head !== undefined) {
          received.push(chunk);
          receivedBytes += chunk.length;
          // Everything echoed back: close (Kubernetes stream protocols end in-band, not by TCP half-close).
          if (receivedBytes === STREAM_BYTES) socket.end();
          return;
        }
        pending = Buffer.concat([pending, chunk]);
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = pending.subarray(0, end).toString();
        if (pending.length > end + 4) received.push(pending.subarray(end + 4));
        // Switched: stream the payload.
        socket.write(payload);
      });
      socket.on('close', resolve);
      socket.on('error', reject);
    });
    await done;
    for (let i = 0; i < 200 && kubelet.received.at(-1)?.protocol !== SPDY_PROTOCOL; i++) await new Promise((r) => setTimeout(r, 20));
    expect(head).toMatch(/^HTTP\/1\.1 101 /);
    expect(head).toMatch(/\r\nUpgrade: SPDY\/3\.1/i);
    expect(head).toMatch(/\r\nX-Stream-Protocol-Version: portforward\.k8s\.io/i);
    expect(kubelet.received.at(-1)).toEqual({ protocol: SPDY_PROTOCOL, sha256: sha256(payload), bytes: STREAM_BYTES });
    expect(sha256(Buffer.concat(received))).toBe(sha256(payload));
  });

  it('relays a refused upgrade (403) to the client and closes', async () => {
    const socket = connect({ host: '127.0.0.1', port: sidecar.port, ca: pki.ca.certPem });
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    socket.write(`GET /forbidden/exec HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ${SPDY_PROTOCOL}\r\n\r\n`);
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    await new Promise((resolve) => socket.on('close', resolve));
    expect(text).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(text.endsWith('{"code":403000}')).toBe(true);
  });

  /** An upgraded stream to the backend's half-close endpoint, switched; what arrives is collected in `chunks`. */
  async function halfCloseStream(): Promise<{ socket: TLSSocket; chunks: Buffer[] }> {
    const socket = connect({ host: '127.0.0.1', port: sidecar.port, ca: pki.ca.certPem, allowHalfOpen: true } as ConnectionOptions);
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    socket.write(`GET /half-close/exec HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ${SPDY_PROTOCOL}\r\n\r\n`);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await waitUntil('the switch to the stream protocol', () => Buffer.concat(chunks).includes('\r\n\r\n'));
    return { socket, chunks };
  }

  it('carries a half-close: the client ends its input and still receives the answer sent after it', async () => {
    const { socket, chunks } = await halfCloseStream();
    socket.write(Buffer.alloc(1000, 1));
    socket.end(); // stdin EOF
    await new Promise((resolve) => socket.on('close', resolve));
    const text = Buffer.concat(chunks).toString('latin1');
    expect(text).toMatch(/^HTTP\/1\.1 101 /);
    expect(text.split('\r\n\r\n')[1]).toBe('received 1000 bytes');
  });

  it('closes the client when the backend dies in the middle of a refusal', async () => {
    const socket = connect({ host: '127.0.0.1', port: sidecar.port, ca: pki.ca.certPem });
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    socket.write(`GET /dies-mid-refusal/exec HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ${SPDY_PROTOCOL}\r\n\r\n`);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // Before the fix the client socket was never closed and this waited until the test timed out.
    await new Promise((resolve) => socket.on('close', resolve));
    // The client gets a whole answer that says what happened, not a bare close or a fragment of the 403.
    const received = Buffer.concat(chunks).toString('utf8');
    const [head, body = ''] = received.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(JSON.parse(body)).toMatchObject({
      kind: 'Status',
      code: 502,
      message: expect.stringContaining('closed the connection in the middle of its 403 answer'),
    });
  });

  it('holds an upgraded stream while it is open and none once both sides closed', async () => {
    // Streams of the tests before are done (their sockets closed); this one is counted on its own.
    await waitUntil("the earlier tests' streams to end", () => sidecar.inFlight.upgraded.size === 0, { timeoutMs: 5000, intervalMs: 20 });
    const { socket } = await halfCloseStream();
    expect(sidecar.inFlight.upgraded.size).toBe(1);
    socket.end();
    await new Promise((resolve) => socket.on('close', resolve));
    await waitUntil('no upgraded stream left', () => sidecar.inFlight.upgraded.size === 0, { timeoutMs: 5000, intervalMs: 20 });
    expect(sidecar.inFlight.upgraded.size).toBe(0);
  });
});
