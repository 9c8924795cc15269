/**
 * Fail-over against the real source API server: the upstream is a counting stand-in for the
 * aggregator; when it stops, creates go to the local API server (mode local); when it returns,
 * traffic goes back; no create is executed twice. And spoofed identity headers never take effect.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { createNamespace, kubectlOk } from '../helpers/lab-clients.js';
import { headerValues, startTestBackend, testPki, type TestBackend } from '../helpers/sidecar-fixtures.js';
import { serviceAccountToken, startLabSidecar, type LabSidecar } from '../helpers/sidecar-lab.js';

function call(lab: LabSidecar, token: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      `${lab.server}${path}`,
      { method, ca: lab.caBundlePem, agent: false, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

async function until(what: string, probe: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !probe(); i++) await sleep(20);
  if (!probe()) throw new Error(`never happened: ${what}`);
}

describe('sidecar fail-over to the local API server', () => {
  let upstream: TestBackend;
  let lab: LabSidecar;
  let namespace: string;
  let token: string;

  beforeAll(async () => {
    const pki = await testPki();
    upstream = await startTestBackend(pki, (req, res, body) => {
      res.writeHead(201, { 'content-type': 'application/json' }).end(body);
      void req;
    });
    lab = await startLabSidecar({ upstream: `https://127.0.0.1:${upstream.port}`, upstreamCaPem: pki.ca.certPem });
    namespace = await createNamespace('source', 'sc-fail');
    token = await serviceAccountToken(namespace);
  });

  afterAll(async () => {
    await lab.sidecar.shutdown(2000);
    await upstream.stop().catch(() => {});
  });

  const create = (name: string) => call(lab, token, 'POST', `/api/v1/namespaces/${namespace}/configmaps`, { metadata: { name, labels: { run: 'failover' } } });
  const upstreamNames = () => upstream.seen.map((s) => (JSON.parse(s.body.toString()) as { metadata: { name: string } }).metadata.name);

  it('routes creates upstream, then to the local API server while it is down, then upstream again, each exactly once', async () => {
    for (let i = 0; i < 5; i++) expect((await create(`up-${i}`)).status).toBe(201);
    expect(upstreamNames()).toEqual(['up-0', 'up-1', 'up-2', 'up-3', 'up-4']);

    await upstream.stop();
    await until('pooled upstream sockets closed', () => lab.sidecar.pool.socketCounts().upstream === 0);
    for (let i = 0; i < 5; i++) expect((await create(`local-${i}`)).status).toBe(201);
    expect(lab.sidecar.health.open).toBe(true);

    await upstream.start();
    await until('breaker closed', () => !lab.sidecar.health.open);
    for (let i = 0; i < 5; i++) expect((await create(`back-${i}`)).status).toBe(201);

    expect(upstreamNames()).toEqual(['up-0', 'up-1', 'up-2', 'up-3', 'up-4', 'back-0', 'back-1', 'back-2', 'back-3', 'back-4']);
    const inApiServer = (await kubectlOk('source', ['-n', namespace, 'get', 'configmaps', '-l', 'run=failover', '-o', 'jsonpath={.items[*].metadata.name}']))
      .split(' ')
      .sort();
    expect(inApiServer).toEqual(['local-0', 'local-1', 'local-2', 'local-3', 'local-4']);
  });

  it('strips spoofed bridge and front-proxy headers and passes impersonation on for the upstream to authorize', async () => {
    // Goes upstream (the capturing stand-in): nothing forbidden arrives there.
    await call(
      lab,
      token,
      'POST',
      `/api/v1/namespaces/${namespace}/configmaps`,
      { metadata: { name: 'spoof' } },
      {
        'Impersonate-User': 'system:admin',
        'Impersonate-Group': 'system:masters',
        'X-Remote-User': 'admin',
        'X-Bridge-Pod': 'someone-else',
      },
    );
    const raw = upstream.seen.at(-1)!.rawHeaders;
    expect(headerValues(raw, 'impersonate-user')).toEqual(['system:admin']);
    expect(headerValues(raw, 'impersonate-group')).toEqual(['system:masters']);
    expect(headerValues(raw, 'x-remote-user')).toEqual([]);
    expect(headerValues(raw, 'x-bridge-pod')).toEqual(['e2e-pod']);
  });
});

describe('sidecar against the real API server with spoofed headers', () => {
  it('the API server sees the workload token, and refuses its impersonation attempt itself', async () => {
    const lab = await startLabSidecar();
    try {
      const namespace = await createNamespace('source', 'sc-spoof');
      const token = await serviceAccountToken(namespace);
      const spoofed = await call(lab, token, 'GET', `/api/v1/namespaces/${namespace}/configmaps`, undefined, { 'Impersonate-User': 'system:admin' });
      expect(spoofed.status).toBe(403);
      // 1.36 words it for constrained impersonation ("cannot impersonate-on:user-info:list ..."), older releases "cannot impersonate resource users".
      expect((JSON.parse(spoofed.body) as { message: string }).message).toMatch(/User "system:serviceaccount:[^"]+:tester" cannot impersonate/);
      const whoami = await call(
        lab,
        token,
        'POST',
        '/apis/authentication.k8s.io/v1/selfsubjectreviews',
        { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
        { 'X-Remote-User': 'system:admin' },
      );
      expect((JSON.parse(whoami.body) as { status: { userInfo: { username: string } } }).status.userInfo.username).toBe(
        `system:serviceaccount:${namespace}:tester`,
      );
    } finally {
      await lab.sidecar.shutdown(2000);
    }
  });

  it('mode closed answers 503 Status when the upstream is unreachable', async () => {
    const lab = await startLabSidecar({ failMode: 'closed', upstream: 'https://127.0.0.1:1' });
    try {
      const response = await call(lab, 'irrelevant', 'GET', '/api/v1/namespaces');
      expect(response.status).toBe(503);
      expect(JSON.parse(response.body)).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable', code: 503 });
    } finally {
      await lab.sidecar.shutdown(2000);
    }
  });
});
