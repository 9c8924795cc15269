// KubeRestClient's raw and streaming calls against a local HTTPS server that records what it got (the lab's
// kube-apiserver answers them in test/e2e/kube-rest-client-raw.test.ts).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Agent, createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeRestClient, THROTTLED_RETRIES, retryAfterSeconds } from '../../lib/kube/rest-client.js';
import { readBody } from '../../lib/proxy/read-body.js';
import { generateCa, issueCertificate, type CertificateAndKey } from '../../lib/tls/pki.js';
import type { WatchEvent } from '../../lib/kube/watch-stream.js';

interface Seen {
  method: string;
  url: string;
  rawHeaders: string[];
  body: string;
}

let ca: CertificateAndKey;
let server: Server;
let base: string;
let handle: (req: IncomingMessage, res: ServerResponse, body: string) => void = () => undefined;
const seen: Seen[] = [];

beforeAll(async () => {
  ca = await generateCa('raw-test-ca');
  const leaf = await issueCertificate(ca, { commonName: 'apiserver', ipAddresses: ['127.0.0.1'], usage: 'server' });
  server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, body });
      handle(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const last = (): Seen => seen[seen.length - 1]!;
const header = (s: Seen, name: string): string | undefined => {
  const i = s.rawHeaders.findIndex((h, n) => n % 2 === 0 && h.toLowerCase() === name);
  return i < 0 ? undefined : s.rawHeaders[i + 1];
};

describe('KubeRestClient.raw', () => {
  it("sends the caller's raw headers, path and body as given with the caller's pool (no credentials of its own), and streams the answer", async () => {
    handle = (_req, res) => {
      res.writeHead(201, 'Made', { 'x-answer': 'yes', 'content-type': 'application/json' });
      res.end('{"kind":"ConfigMap"}');
    };
    const client = KubeRestClient.withCredentials(base, { caPem: ca.certPem, token: 'bridge-token' });
    const agent = new Agent({ ca: ca.certPem, keepAlive: true });
    try {
      const path = '/api/v1/namespaces/a/configmaps/x%2Fy/../z?fieldSelector=a%3Db';
      const answer = await client.raw({
        method: 'POST',
        path,
        headers: ['Host', 'kubernetes.example', 'Authorization', 'Bearer caller-token', 'Content-Length', '3'],
        body: Buffer.from('abc'),
        agent,
        timeoutMs: 5000,
      });
      expect(answer.status).toBe(201);
      expect(answer.statusMessage).toBe('Made');
      expect(answer.rawHeaders).toEqual(expect.arrayContaining(['x-answer', 'yes']));
      expect((await readBody(answer.body, 1000))?.toString()).toBe('{"kind":"ConfigMap"}');
      expect(last()).toMatchObject({ method: 'POST', url: path, body: 'abc' });
      expect(header(last(), 'host')).toBe('kubernetes.example');
      expect(last().rawHeaders.filter((h) => h.toLowerCase() === 'authorization')).toHaveLength(1);
      expect(header(last(), 'authorization')).toBe('Bearer caller-token');
    } finally {
      agent.destroy();
      client.close();
    }
  });

  it("without a pool, adds the client's own credentials to raw and to object headers", async () => {
    handle = (_req, res) => res.end('{}');
    const client = KubeRestClient.withCredentials(base, { caPem: ca.certPem, token: 'bridge-token' });
    try {
      await client.rawBuffered({ method: 'GET', path: '/api', headers: ['Host', '127.0.0.1', 'Accept', 'application/json'] });
      expect(header(last(), 'authorization')).toBe('Bearer bridge-token');
      await client.rawBuffered({ method: 'GET', path: '/apis', headers: { accept: 'application/json' } });
      expect(header(last(), 'authorization')).toBe('Bearer bridge-token');
      expect(header(last(), 'accept')).toBe('application/json');
    } finally {
      client.close();
    }
  });

  it('fails with BRIDGE_ERR_KUBE_API when no head comes within the deadline, and with the deadline as cause when the body stalls', async () => {
    const client = KubeRestClient.withCredentials(base, { caPem: ca.certPem });
    try {
      handle = () => undefined; // never answers
      await expect(client.raw({ method: 'GET', path: '/stall', timeoutMs: 100 })).rejects.toMatchObject({
        code: 'BRIDGE_ERR_KUBE_API',
        message: 'no answer within 100 ms',
      });
      handle = (_req, res) => {
        res.writeHead(200);
        res.write('{"partial":');
      };
      await expect(client.rawBuffered({ method: 'GET', path: '/stall-body', timeoutMs: 100 })).rejects.toMatchObject({ message: 'no answer within 100 ms' });
    } finally {
      client.close();
    }
  });

  it('fails a buffered call whose answer is over maxBytes', async () => {
    handle = (_req, res) => res.end('x'.repeat(5000));
    const client = KubeRestClient.withCredentials(base, { caPem: ca.certPem });
    try {
      await expect(client.rawBuffered({ method: 'GET', path: '/big', maxBytes: 1000 })).rejects.toMatchObject({ message: 'answer larger than 1000 bytes' });
      expect((await client.rawBuffered({ method: 'GET', path: '/big', maxBytes: 5000 })).body.length).toBe(5000);
    } finally {
      client.close();
    }
  });
});

describe('KubeRestClient.request, asked to try again', () => {
  const answerWith = (answers: Array<[number, Record<string, string>]>) => {
    let n = 0;
    handle = (_req, res) => {
      const [status, headers] = answers[Math.min(n++, answers.length - 1)]!;
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify({ kind: status === 200 ? 'ConfigMapList' : 'Status', code: status, items: [] }));
    };
  };

  it('sends the call again, body included, after a 429 or 5xx that carries Retry-After, as client-go does (a new resource whose storage is initializing)', async () => {
    answerWith([
      [429, { 'retry-after': '0' }],
      [503, { 'retry-after': '0' }],
      [200, {}],
    ]);
    const client = KubeRestClient.withCredentials(base, { caPem: ca.certPem, token: 't' });
    const before = seen.length;
    try {
      const got = await client.request('POST', '/api/v1/namespaces/a/configmaps', { kind: 'ConfigMap' });
      expect(got.status).toBe(200);
      expect(seen.slice(before).map((s) => [s.method, s.body])).toEqual(Array(3).fill(['POST', '{"kind":"ConfigMap"}']));
    } finally {
      client.close();
    }
  });

  it('returns the answer without repeating the call when it has no Retry-After, or after THROTTLED_RETRIES repeats', async () => {
    const client = KubeRestClient.withCredentials(base, { caPem: ca.certPem, token: 't' });
    try {
      answerWith([[429, {}]]);
      let before = seen.length;
      expect((await client.request('GET', '/api/v1/configmaps')).status).toBe(429);
      expect(seen.length - before).toBe(1);

      answerWith([[503, { 'retry-after': '0' }]]);
      before = seen.length;
      expect((await client.request('GET', '/api/v1/configmaps')).status).toBe(503);
      expect(seen.length - before).toBe(THROTTLED_RETRIES + 1);

      answerWith([[409, { 'retry-after': '0' }]]);
      before = seen.length;
      expect((await client.request('GET', '/api/v1/configmaps')).status).toBe(409);
      expect(seen.length - before).toBe(1);
    } finally {
      client.close();
    }
  });

  it('reads Retry-After as client-go does: integer seconds only, and a long one shortened', () => {
    const answer = (status: number, value?: string) => ({ status, rawHeaders: value === undefined ? [] : ['Retry-After', value] });
    expect(retryAfterSeconds(answer(429, '1'))).toBe(1);
    expect(retryAfterSeconds(answer(500, ' 2 '))).toBe(2);
    expect(retryAfterSeconds(answer(429, '3600'))).toBe(10);
    expect(retryAfterSeconds(answer(429, 'Wed, 21 Oct 2026 07:28:00 GMT'))).toBeUndefined();
    expect(retryAfterSeconds(answer(429))).toBeUndefined();
    expect(retryAfterSeconds(answer(403, '1'))).toBeUndefined();
  });
});

describe('KubeRestClient.watch', () => {
  it('reads events written in pieces over HTTP and ends with an ERROR event as a WatchStreamError carrying its code', async () => {
    handle = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const text =
        `${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a' } } })}\n` +
        `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' } })}\n`;
      for (let i = 0; i < text.length; i += 7) res.write(text.slice(i, i + 7));
      // The connection stays open: the ERROR event alone must end the watch.
    };
    const client = KubeRestClient.withCredentials(base, { caPem: ca.certPem });
    try {
      const events: WatchEvent<{ metadata: { name: string } }>[] = [];
      const watch = await client.watch<{ metadata: { name: string } }>('/api/v1/configmaps?watch=true', (e) => events.push(e));
      expect(await watch.ended).toMatchObject({ code: 'BRIDGE_ERR_KUBE_API', problem: 'error-event', status: 410 });
      expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED a']);
      expect(last().url).toBe('/api/v1/configmaps?watch=true');
    } finally {
      client.close();
    }
  });

  it('ends with the HTTP status when the watch is refused', async () => {
    handle = (_req, res) => {
      res.writeHead(403);
      res.end('{"kind":"Status","code":403}');
    };
    const client = KubeRestClient.withCredentials(base, { caPem: ca.certPem });
    try {
      const watch = await client.watch('/api/v1/secrets?watch=true', () => undefined);
      expect(await watch.ended).toMatchObject({ code: 'BRIDGE_ERR_KUBE_API', message: 'watch /api/v1/secrets?watch=true: HTTP 403' });
    } finally {
      client.close();
    }
  });
});
