import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitUntil } from '../../lib/wait-until.js';
import { generateCa, issueCertificate } from '../../lib/tls/pki.js';
import { connect, type TLSSocket } from 'node:tls';
import {
  callSidecar,
  headerValues,
  startTestBackend,
  startTestSidecar,
  testPki,
  type SidecarUnderTest,
  type TestBackend,
  type TestPki,
} from '../helpers/sidecar-fixtures.js';

describe('sidecar forwarding', () => {
  let pki: TestPki;
  let upstream: TestBackend;
  let sidecar: SidecarUnderTest;
  /** The streaming handler's hook: lets each test drive the upstream's response step by step. */
  let onStream: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;

  beforeAll(async () => {
    pki = await testPki();
    upstream = await startTestBackend(pki, undefined, {
      streaming: (req, res) => {
        if (onStream && req.url!.startsWith('/stream')) return onStream(req, res);
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          upstream.seen[upstream.seen.length - 1]!.body = Buffer.concat(chunks);
          res.writeHead(
            201,
            'Created Here',
            [
              ['X-Multi', 'a'],
              ['x-multi', 'b'],
              ['Content-Type', 'application/json'],
              ['Date', 'Tue, 01 Jan 2030 00:00:00 GMT'],
            ].flat(),
          );
          res.end(JSON.stringify({ ok: true, length: chunks.reduce((n, c) => n + c.length, 0) }));
        });
      },
    });
    sidecar = await startTestSidecar(pki, { upstreamPort: upstream.port, failMode: 'closed' });
  });

  afterAll(async () => {
    await sidecar.shutdown(1000);
    await upstream.stop();
  });

  it('passes method, path, query, body and headers (case, order, repeats, Authorization) through unchanged', async () => {
    const body = Buffer.from(JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' }, data: { k: 'ü'.repeat(1000) } }));
    const path = '/api/v1/namespaces/ns-1/configmaps?fieldManager=kubectl&dryRun=All&labelSelector=a%3Db%2Cc';
    const response = await callSidecar(sidecar.port, pki, {
      method: 'PATCH',
      path,
      headers: [
        'Host',
        'kubernetes.default.svc',
        'Authorization',
        'Bearer secret-token',
        'Content-Type',
        'application/apply-patch+yaml',
        'X-Custom',
        'one',
        'x-custom',
        'two',
        'Accept',
        'application/json;as=Table;v=v1;g=meta.k8s.io',
        'Content-Length',
        String(body.length),
      ],
      body,
    });
    expect(response.status).toBe(201);
    const seen = upstream.seen.at(-1)!;
    expect(seen.method).toBe('PATCH');
    expect(seen.url).toBe(path);
    expect(seen.body.equals(body)).toBe(true);
    expect(headerValues(seen.rawHeaders, 'authorization')).toEqual(['Bearer secret-token']);
    expect(headerValues(seen.rawHeaders, 'x-custom')).toEqual(['one', 'two']);
    expect(seen.rawHeaders).toContain('X-Custom');
    expect(headerValues(seen.rawHeaders, 'accept')).toEqual(['application/json;as=Table;v=v1;g=meta.k8s.io']);
    expect(headerValues(seen.rawHeaders, 'content-type')).toEqual(['application/apply-patch+yaml']);
    expect(seen.clientCertCn).toBe('sidecar');
    expect(headerValues(seen.rawHeaders, 'host')).toEqual(['kubernetes.default.svc']);
    // The response: status text, repeated headers and the upstream's own Date.
    expect(headerValues(response.rawHeaders, 'x-multi')).toEqual(['a', 'b']);
    expect(headerValues(response.rawHeaders, 'date')).toEqual(['Tue, 01 Jan 2030 00:00:00 GMT']);
    expect(JSON.parse(response.body.toString())).toEqual({ ok: true, length: body.length });
  });

  it('streams a chunked request body to the upstream', async () => {
    const parts = ['{"a":', '"', 'x'.repeat(200_000), '"}'];
    const result = await new Promise<{ status: number }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: sidecar.port,
          method: 'POST',
          path: '/api/v1/namespaces/n/configmaps',
          ca: pki.ca.certPem,
          agent: false,
          headers: { 'transfer-encoding': 'chunked' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode! }));
        },
      );
      req.on('error', reject);
      for (const part of parts) req.write(part);
      req.end();
    });
    expect(result.status).toBe(201);
    expect(upstream.seen.at(-1)!.body.toString()).toBe(parts.join(''));
  });

  it('strips spoofed bridge and front-proxy headers, passes impersonation on, adds the pod identity and the hop marker', async () => {
    await callSidecar(sidecar.port, pki, {
      // An object, not a raw array: Node's client sends nothing of a raw array holding a Connection header.
      headers: {
        'X-Bridge-Pod': 'evil',
        'x-bridge-location': 'mars',
        'Impersonate-User': 'system:admin',
        'Impersonate-Group': 'system:masters',
        'Impersonate-Extra-Scopes': 'all',
        'Impersonate-Uid': '0',
        'X-Remote-User': 'root',
        'X-Remote-Group': 'system:masters',
        Connection: 'keep-alive, X-Secret-Hop',
        'X-Secret-Hop': 'drop-me',
      },
    });
    const names = upstream.seen
      .at(-1)!
      .rawHeaders.filter((_, i) => i % 2 === 0)
      .map((n) => n.toLowerCase());
    for (const name of names) expect(name).not.toMatch(/^x-remote-/);
    expect(headerValues(upstream.seen.at(-1)!.rawHeaders, 'impersonate-group')).toEqual(['system:masters']);
    expect(names).not.toContain('x-bridge-location');
    expect(names).not.toContain('x-secret-hop');
    const raw = upstream.seen.at(-1)!.rawHeaders;
    expect(headerValues(raw, 'x-bridge-pod')).toEqual(['app-0']);
    expect(headerValues(raw, 'x-bridge-namespace')).toEqual(['team-a']);
    expect(headerValues(raw, 'x-bridge-node')).toEqual(['node-1']);
    expect(headerValues(raw, 'x-bridge-hop')).toEqual(['sidecar']);
  });

  it('delivers each watch event before the upstream sends the next one', async () => {
    // The upstream sends event N+1 only after the test saw event N through the sidecar: a proxy
    // that buffered would deadlock here instead of passing.
    let nextEvent: (() => void) | undefined;
    onStream = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.flushHeaders();
      let n = 0;
      nextEvent = () => {
        n++;
        if (n > 5) res.end();
        else res.write(`${JSON.stringify({ type: 'ADDED', object: { n } })}\n`);
      };
    };
    const events: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: sidecar.port, path: '/stream/api/v1/configmaps?watch=true', ca: pki.ca.certPem, agent: false }, (res) => {
        // Reject rather than expect(): an assertion thrown in a callback escapes the test as an uncaught error.
        if (res.statusCode !== 200) return reject(new Error(`watch through the sidecar answered HTTP ${res.statusCode}`));
        res.setEncoding('utf8');
        let buffered = '';
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let newline;
          while ((newline = buffered.indexOf('\n')) >= 0) {
            events.push((JSON.parse(buffered.slice(0, newline)) as { object: { n: number } }).object.n);
            buffered = buffered.slice(newline + 1);
            nextEvent!();
          }
        });
        res.on('end', resolve);
        // Headers arrived with no event yet: ask for the first one.
        nextEvent!();
      });
      req.on('error', reject);
      req.end();
    });
    onStream = undefined;
    expect(events).toEqual([1, 2, 3, 4, 5]);
  });

  it('closes the upstream request as soon as the client disconnects from a watch', async () => {
    let upstreamClosed!: Promise<unknown>;
    const upstreamReady = new Promise<void>((ready) => {
      onStream = (req, res) => {
        upstreamClosed = once(res, 'close');
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"type":"ADDED"}\n');
        ready();
        void req;
      };
    });
    const client = request({ host: '127.0.0.1', port: sidecar.port, path: '/stream/watch-me?watch=1', ca: pki.ca.certPem, agent: false });
    client.on('error', () => {});
    client.end();
    const [res] = (await once(client, 'response')) as [IncomingMessage];
    await once(res, 'data');
    await upstreamReady;
    expect(sidecar.inFlight.longRunningCount).toBe(1);
    client.destroy();
    await upstreamClosed;
    onStream = undefined;
    // Nothing is left behind in the sidecar either.
    await new Promise((r) => setImmediate(r));
    expect(sidecar.inFlight.longRunningCount).toBe(0);
  });

  it('hot-reloads a rotated serving certificate without a restart', async () => {
    const newCa = await generateCa('rotated-ca');
    const rotated = await issueCertificate(newCa, { commonName: 'rotated', ipAddresses: ['127.0.0.1'], usage: 'server' });
    writeFileSync(join(sidecar.tlsDir, 'tls.key'), rotated.keyPem);
    writeFileSync(join(sidecar.tlsDir, 'tls.crt'), rotated.certPem);
    const issuer = async () =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: sidecar.port, rejectUnauthorized: false }, () => {
          resolve(String(socket.getPeerCertificate().subject.CN));
          socket.destroy();
        });
        socket.on('error', reject);
      });
    for (let i = 0; i < 200 && (await issuer()) !== 'rotated'; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await issuer()).toBe('rotated');
    // Restore the original for the other tests.
    writeFileSync(join(sidecar.tlsDir, 'tls.key'), pki.loopback.keyPem);
    writeFileSync(join(sidecar.tlsDir, 'tls.crt'), pki.loopback.certPem);
    for (let i = 0; i < 200 && (await issuer()) !== 'loopback'; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await issuer()).toBe('loopback');
  });

  it('drops a rotated-out upstream pool once the last request on it ends', async () => {
    let finish: (() => void) | undefined;
    onStream = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"ADDED","object":{}}\n');
      finish = () => res.end();
    };
    try {
      const watch = callSidecar(sidecar.port, pki, { path: '/stream/api/v1/configmaps?watch=true' });
      await waitUntil('the watch to reach the upstream', () => finish !== undefined);
      const rotatedClient = await issueCertificate(pki.ca, { commonName: 'sidecar-rotated', usage: 'client' });
      writeFileSync(join(sidecar.tlsDir, 'client.key'), rotatedClient.keyPem);
      writeFileSync(join(sidecar.tlsDir, 'client.crt'), rotatedClient.certPem);
      // The watch keeps the old pool alive; ending it lets the pool go (before, retired pools stayed until shutdown).
      await waitUntil('the rotation to retire the pool the watch runs on', () => sidecar.pool.retiredPools === 1);
      finish!();
      expect((await watch).status).toBe(200);
      await waitUntil('the drained pool to be dropped', () => sidecar.pool.retiredPools === 0, { timeoutMs: 10_000 });
    } finally {
      onStream = undefined;
      writeFileSync(join(sidecar.tlsDir, 'client.key'), pki.client.keyPem);
      writeFileSync(join(sidecar.tlsDir, 'client.crt'), pki.client.certPem);
    }
  });

  /** A POST the upstream receives and then drops; returns the sidecar's answer and how often the upstream saw it. */
  async function postThatUpstreamDrops() {
    let hits = 0;
    onStream = (req) => {
      hits++;
      req.socket.destroy();
    };
    try {
      const response = await callSidecar(sidecar.port, pki, {
        method: 'POST',
        path: '/stream/create',
        body: '{}',
        headers: { 'content-type': 'application/json' },
      });
      return { response, hits };
    } finally {
      onStream = undefined;
    }
  }

  const afterSendFailures = async () => {
    const text = await (await fetch(`http://127.0.0.1:${sidecar.opsPort}/metrics`)).text();
    return Number(/cluster_bridge_sidecar_backend_failures_total\{backend="upstream",kind="after-send"\} (\d+)/.exec(text)?.[1] ?? 0);
  };

  it('answers 502 and does not replay when the upstream fails after receiving the request', async () => {
    const { response, hits } = await postThatUpstreamDrops();
    expect(response.status).toBe(502);
    expect(JSON.parse(response.body.toString())).toMatchObject({ kind: 'Status', code: 502 });
    expect(hits).toBe(1);
  });

  it('keeps no server socket for clients that connect and close without a request', async () => {
    const connections = () => new Promise<number>((resolve) => sidecar.server.getConnections((_e, n) => resolve(n)));
    await waitUntil('the connections of the tests before to end', async () => (await connections()) === 0, { timeoutMs: 5000, intervalMs: 20 });
    const sockets = await Promise.all(
      Array.from(
        { length: 5 },
        () =>
          new Promise<TLSSocket>((resolve, reject) => {
            const socket = connect({ host: '127.0.0.1', port: sidecar.port, ca: pki.ca.certPem }, () => resolve(socket));
            socket.on('error', reject);
          }),
      ),
    );
    // The server holds them while they are open (so the count below is of these sockets)...
    expect(await connections()).toBe(5);
    for (const socket of sockets) socket.destroy();
    // ...and lets go of each once its client closed without sending a request.
    await waitUntil('the sidecar to hold no connection', async () => (await connections()) === 0, { timeoutMs: 5000, intervalMs: 20 });
    expect(await connections()).toBe(0);
  });

  it('serves health, readiness and metrics on the ops port', async () => {
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${sidecar.opsPort}${path}`);
      return { status: res.status, text: await res.text() };
    };
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(200);
    const metrics = await get('/metrics');
    expect(metrics.text).toMatch(/cluster_bridge_sidecar_requests_total\{reason="selected-upstream",upgrade="false"\} \d+/);
    // Counted here, not left over from another test: one dropped request adds exactly one failure.
    const before = await afterSendFailures();
    expect((await postThatUpstreamDrops()).response.status).toBe(502);
    expect(await afterSendFailures()).toBe(before + 1);
  });
});
