import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCa, issueCertificate } from '../../lib/tls/pki.js';
import { freePort } from '../../lab/ports.js';
import { waitUntil } from '../../lib/wait-until.js';
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

const until = (what: string, probe: () => boolean | Promise<boolean>) => waitUntil(what, probe, { timeoutMs: 12_000, intervalMs: 20 });

const ids = (backend: TestBackend) => backend.seen.map((s) => headerValues(s.rawHeaders, 'x-request-id')[0]).filter((id): id is string => id !== undefined);

describe('sidecar fail mode local', () => {
  let pki: TestPki;
  let upstream: TestBackend;
  let local: TestBackend;
  let sidecar: SidecarUnderTest;
  let counter = 0;
  const send = (method = 'POST') =>
    callSidecar(sidecar.port, pki, {
      method,
      path: '/api/v1/namespaces/n/configmaps',
      headers: { 'x-request-id': `req-${++counter}`, 'content-type': 'application/json' },
      body: '{"kind":"ConfigMap"}',
    });

  beforeAll(async () => {
    pki = await testPki();
    upstream = await startTestBackend(pki);
    local = await startTestBackend(pki);
    sidecar = await startTestSidecar(pki, { upstreamPort: upstream.port, localPort: local.port, failMode: 'local' });
  });

  afterAll(async () => {
    await sidecar.shutdown(1000);
    await upstream.stop();
    await local.stop();
  });

  it('goes to the local API server while the upstream is down, comes back after, and runs no request twice', async () => {
    for (let i = 0; i < 10; i++) expect((await send()).status).toBe(200);
    expect(ids(upstream)).toHaveLength(10);

    await upstream.stop();
    // The sidecar's pooled sockets to the stopped upstream must be gone before the next request,
    // or that request could die mid-flight (answered 502, by design never replayed).
    await until('pooled upstream sockets closed', () => sidecar.pool.socketCounts().upstream === 0);
    for (let i = 0; i < 10; i++) expect((await send()).status).toBe(200);
    expect(ids(upstream)).toHaveLength(10);
    expect(ids(local)).toHaveLength(10);
    expect(sidecar.health.open).toBe(true);

    await upstream.start();
    await until('breaker closed by the probe', () => !sidecar.health.open);
    for (let i = 0; i < 10; i++) expect((await send()).status).toBe(200);
    expect(ids(upstream)).toHaveLength(20);
    expect(ids(local)).toHaveLength(10);

    const all = [...ids(upstream), ...ids(local)];
    expect(new Set(all).size).toBe(all.length);
    expect(all).toHaveLength(counter);
    // The local API server got the same body the upstream would have.
    expect(local.seen.every((s) => s.body.toString() === '{"kind":"ConfigMap"}')).toBe(true);
  });
});

describe('sidecar fail mode closed', () => {
  let pki: TestPki;
  let upstream: TestBackend;
  let sidecar: SidecarUnderTest;

  beforeAll(async () => {
    pki = await testPki();
    upstream = await startTestBackend(pki);
    sidecar = await startTestSidecar(pki, { upstreamPort: upstream.port, failMode: 'closed' });
  });

  afterAll(async () => {
    await sidecar.shutdown(1000);
    await upstream.stop().catch(() => {});
  });

  it('answers 503 with a Kubernetes Status while the upstream is down, and recovers', async () => {
    expect((await callSidecar(sidecar.port, pki)).status).toBe(200);
    await upstream.stop();
    await until('pooled upstream sockets closed', () => sidecar.pool.socketCounts().upstream === 0);
    for (let i = 0; i < 5; i++) {
      const response = await callSidecar(sidecar.port, pki, { method: 'DELETE' });
      expect(response.status).toBe(503);
      expect(response.headers['retry-after']).toBe('1');
      expect(JSON.parse(response.body.toString())).toMatchObject({
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        reason: 'ServiceUnavailable',
        code: 503,
      });
    }
    expect(upstream.seen).toHaveLength(1);
    await upstream.start();
    await until('breaker closed', () => !sidecar.health.open);
    expect((await callSidecar(sidecar.port, pki)).status).toBe(200);
    expect(upstream.seen).toHaveLength(2);
  });

  it('fails over on a TLS error (upstream certificate not trusted) without sending anything', async () => {
    // An upstream whose CA the sidecar does not trust: the handshake fails, which counts as unreachable.
    const { generateCa, issueCertificate } = await import('../../lib/tls/pki.js');
    const otherCa = await generateCa('untrusted');
    const untrusted = await startTestBackend({
      ...pki,
      backend: await issueCertificate(otherCa, { commonName: 'x', ipAddresses: ['127.0.0.1'], usage: 'server' }),
    });
    const other = await startTestSidecar(pki, { upstreamPort: untrusted.port, failMode: 'closed' });
    try {
      expect((await callSidecar(other.port, pki)).status).toBe(503);
      expect(untrusted.seen).toHaveLength(0);
    } finally {
      await other.shutdown(1000);
      await untrusted.stop();
    }
  });
});

describe('sidecar graceful shutdown', () => {
  it('ends watches cleanly, lets in-flight requests finish and refuses new connections', async () => {
    const pki = await testPki();
    let release!: () => void;
    let slowArrived!: () => void;
    const slowArrival = new Promise<void>((r) => (slowArrived = r));
    const upstream = await startTestBackend(pki, undefined, {
      streaming: (req: IncomingMessage, res: ServerResponse) => {
        req.resume();
        if (req.url!.includes('watch=true')) {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"type":"ADDED"}\n');
          return;
        }
        slowArrived();
        release = () => res.writeHead(200, { 'content-type': 'text/plain' }).end('done');
      },
    });
    const sidecar = await startTestSidecar(pki, { upstreamPort: upstream.port, failMode: 'closed' });

    const watch = request({ host: '127.0.0.1', port: sidecar.port, path: '/api/v1/pods?watch=true', ca: pki.ca.certPem, agent: false });
    watch.end();
    const [watchRes] = (await once(watch, 'response')) as [IncomingMessage];
    let watchBody = '';
    watchRes.on('data', (c: Buffer) => (watchBody += c.toString()));
    const watchEnded = new Promise<string>((resolve) => {
      watchRes.on('end', () => resolve('end'));
      watchRes.on('error', () => resolve('error'));
    });

    const slow = callSidecar(sidecar.port, pki, { path: '/slow' });
    await slowArrival;

    const stopped = sidecar.shutdown(30_000);
    expect(await watchEnded).toBe('end');
    expect(watchBody).toBe('{"type":"ADDED"}\n');
    expect((await fetch(`http://127.0.0.1:${sidecar.opsPort}/readyz`)).status).toBe(503);
    await expect(callSidecar(sidecar.port, pki)).rejects.toThrow(/ECONNREFUSED/);

    release();
    const slowResponse = await slow;
    expect(slowResponse.status).toBe(200);
    expect(slowResponse.body.toString()).toBe('done');
    await stopped;
    await upstream.stop();
  });
});

describe('the local API server CA (BRIDGE_LOCAL_CA_FILE)', () => {
  it('is reloaded when the file changes, without a restart', async () => {
    const pki = await testPki();
    // The local API server presents a certificate from a CA the sidecar does not trust yet.
    const rotatedCa = await generateCa('rotated-cluster-ca');
    const rotatedServing = await issueCertificate(rotatedCa, { commonName: 'apiserver', ipAddresses: ['127.0.0.1'], usage: 'server' });
    const local = await startTestBackend({ ...pki, ca: rotatedCa, backend: rotatedServing });
    const dir = mkdtempSync(join(tmpdir(), 'local-ca-'));
    const caFile = join(dir, 'ca.crt');
    writeFileSync(caFile, pki.ca.certPem);
    const unreachableUpstream = await freePort();
    // An hour's poll: only the folder watch can pick the change up within the test.
    const sidecar = await startTestSidecar(
      pki,
      { upstreamPort: unreachableUpstream, localPort: local.port, failMode: 'local', extra: { BRIDGE_LOCAL_CA_FILE: caFile } },
      { tlsPollMs: 3_600_000 },
    );
    try {
      const get = () => callSidecar(sidecar.port, pki, { path: '/api/v1/namespaces/n/configmaps' });
      expect((await get()).status).toBeGreaterThanOrEqual(500);
      expect(local.seen).toHaveLength(0);
      writeFileSync(caFile, rotatedCa.certPem);
      await waitUntil('the local API server to be trusted', async () => (await get()).status === 200, { timeoutMs: 20_000 });
      expect(local.seen.length).toBeGreaterThan(0);
    } finally {
      await sidecar.shutdown(1000);
      await local.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('connections that fail without the backend handling the request', () => {
  it('sends an idempotent request once more when its pooled connection was already closed, and never a POST', async () => {
    const pki = await testPki();
    const requestsOnSocket = new WeakMap<object, number>();
    const upstream = await startTestBackend(pki, undefined, {
      streaming: (req, res) => {
        const n = (requestsOnSocket.get(req.socket) ?? 0) + 1;
        requestsOnSocket.set(req.socket, n);
        // Like a server closing a keep-alive connection it considers idle just as the next request arrives.
        if (n >= 2) return void req.socket.destroy();
        req.resume();
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' }).end('{}');
      },
    });
    const sidecar = await startTestSidecar(pki, { upstreamPort: upstream.port, failMode: 'closed' });
    try {
      expect((await callSidecar(sidecar.port, pki, { path: '/api/v1/pods' })).status).toBe(200);
      // The sidecar reuses its pooled connection, which the backend resets: the GET goes again, on a new one.
      expect((await callSidecar(sidecar.port, pki, { path: '/api/v1/pods' })).status).toBe(200);
      expect(upstream.seen.map((s) => s.method)).toEqual(['GET', 'GET', 'GET']);
      // A POST on a pooled connection the backend resets may have been handled: it is answered 502, never sent twice.
      expect((await callSidecar(sidecar.port, pki, { path: '/api/v1/pods' })).status).toBe(200);
      const post = await callSidecar(sidecar.port, pki, { method: 'POST', path: '/api/v1/namespaces/n/configmaps', body: '{}' });
      expect(post.status).toBe(502);
      expect(upstream.seen.map((s) => s.method)).toEqual(['GET', 'GET', 'GET', 'GET', 'POST']);
    } finally {
      await sidecar.shutdown(1000);
      await upstream.stop();
    }
  });
});
