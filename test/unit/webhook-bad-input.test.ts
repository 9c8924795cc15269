/**
 * Hostile and malformed AdmissionReviews against the real HTTPS server: every one gets a clear 4xx or
 * `allowed: true` (with a warning where the review looks wrong), and the process keeps serving.
 * Then a seeded randomized run feeds thousands of mutated reviews to the handler.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request } from 'node:https';
import { gzipSync } from 'node:zlib';
import fastJsonPatch from 'fast-json-patch';
import { createLogger } from '../../lib/process/logger.js';
import { generateCa, issueCertificate, type CertificateAndKey } from '../../lib/tls/pki.js';
import { handleAdmission } from '../../webhook/admission-handler.js';
import { startAdmissionServer, type AdmissionServer } from '../../webhook/admission-server.js';
import { defaultInjectionConfig } from '../../webhook/injection-config.js';
import { createWebhookMetrics } from '../../webhook/metrics.js';
import { rng } from '../helpers/seeded-random.js';

const config = defaultInjectionConfig();
const MAX_BODY = 1024 * 1024;

function pod(): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'web-', namespace: 'apps', labels: { app: 'web' }, annotations: { a: 'b' } },
    spec: {
      initContainers: [{ name: 'init', image: 'busybox', env: [{ name: 'X', value: '1' }] }],
      containers: [{ name: 'app', image: 'nginx', env: [{ name: 'KUBERNETES_SERVICE_HOST', value: '10.0.0.1' }], ports: [{ containerPort: 80 }] }],
      volumes: [
        {
          name: 'kube-api-access-z',
          projected: {
            sources: [{ serviceAccountToken: { path: 'token' } }, { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }],
          },
        },
      ],
    },
  };
}

function review(overrides: Record<string, unknown> = {}, requestOverrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'uid-1',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      operation: 'CREATE',
      namespace: 'apps',
      object: pod(),
      ...requestOverrides,
    },
    ...overrides,
  };
}

function nested(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = { n: value };
  return value;
}

function withSpec(mutate: (spec: Record<string, unknown>, p: Record<string, unknown>) => void): string {
  const r = review();
  const p = (r.request as { object: Record<string, unknown> }).object;
  mutate(p.spec as Record<string, unknown>, p);
  return JSON.stringify(r);
}

type Expect = { status: number } | { allowed: 'warning' | 'plain' | 'patched' };
interface Case {
  name: string;
  body: string | Buffer;
  contentType?: string;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  expect: Expect;
}

const cases: Case[] = [
  { name: 'empty body', body: '', expect: { status: 400 } },
  { name: 'not JSON', body: 'hello', expect: { status: 400 } },
  { name: 'truncated JSON', body: JSON.stringify(review()).slice(0, 100), expect: { status: 400 } },
  { name: 'a JSON array', body: '[]', expect: { status: 400 } },
  { name: 'a JSON string', body: '"AdmissionReview"', expect: { status: 400 } },
  { name: 'JSON null', body: 'null', expect: { status: 400 } },
  { name: 'wrong kind', body: JSON.stringify(review({ kind: 'TokenReview' })), expect: { status: 400 } },
  { name: 'v1beta1 review', body: JSON.stringify(review({ apiVersion: 'admission.k8s.io/v1beta1' })), expect: { status: 400 } },
  { name: 'missing apiVersion', body: JSON.stringify(review({ apiVersion: undefined })), expect: { status: 400 } },
  { name: 'missing request', body: JSON.stringify(review({ request: undefined })), expect: { status: 400 } },
  { name: 'request is a string', body: JSON.stringify(review({ request: 'pods' })), expect: { status: 400 } },
  { name: 'missing uid', body: JSON.stringify(review({}, { uid: undefined })), expect: { status: 400 } },
  { name: 'empty uid', body: JSON.stringify(review({}, { uid: '' })), expect: { status: 400 } },
  { name: 'numeric uid', body: JSON.stringify(review({}, { uid: 42 })), expect: { status: 400 } },
  { name: 'uid of 10 kB', body: JSON.stringify(review({}, { uid: 'u'.repeat(10_000) })), expect: { status: 400 } },
  { name: 'dryRun as a string', body: JSON.stringify(review({}, { dryRun: 'yes' })), expect: { status: 400 } },
  {
    name: 'object nested 5000 deep',
    body: JSON.stringify(review({}, { object: 'DEEP' })).replace('"DEEP"', `${'{"n":'.repeat(5000)}"leaf"${'}'.repeat(5000)}`),
    expect: { status: 400 },
  },
  {
    name: 'arrays nested 200000 deep',
    body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","object":${'['.repeat(200_000)}${']'.repeat(200_000)}}}`,
    expect: { status: 400 },
  },
  { name: 'body above the cap', body: JSON.stringify(review({}, { object: { ...pod(), padding: 'x'.repeat(MAX_BODY + 10) } })), expect: { status: 413 } },
  { name: 'text/plain', body: JSON.stringify(review()), contentType: 'text/plain', expect: { status: 415 } },
  { name: 'no content type', body: JSON.stringify(review()), contentType: '', expect: { status: 415 } },
  { name: 'json-patch content type', body: JSON.stringify(review()), contentType: 'application/json-patch+json', expect: { status: 415 } },
  { name: 'gzip that is not gzip', body: 'not gzip', headers: { 'content-encoding': 'gzip' }, expect: { status: 400 } },
  { name: 'unknown content encoding', body: JSON.stringify(review()), headers: { 'content-encoding': 'br2' }, expect: { status: 415 } },
  { name: 'invalid UTF-8 bytes', body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), expect: { status: 400 } },
  { name: 'GET /mutate', body: '', method: 'GET', expect: { status: 404 } },
  { name: 'POST to another path', body: JSON.stringify(review()), path: '/validate', expect: { status: 404 } },
  {
    name: 'a ConfigMap',
    body: JSON.stringify(review({}, { kind: { group: '', version: 'v1', kind: 'ConfigMap' }, object: { data: {} } })),
    expect: { allowed: 'warning' },
  },
  { name: 'a Deployment', body: JSON.stringify(review({}, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } })), expect: { allowed: 'warning' } },
  { name: 'Pod UPDATE', body: JSON.stringify(review({}, { operation: 'UPDATE' })), expect: { allowed: 'warning' } },
  {
    name: 'pods/exec CONNECT',
    body: JSON.stringify(review({}, { operation: 'CONNECT', subResource: 'exec', object: { kind: 'PodExecOptions' } })),
    expect: { allowed: 'warning' },
  },
  { name: 'Pod with object null', body: JSON.stringify(review({}, { object: null })), expect: { allowed: 'warning' } },
  { name: 'Pod without spec', body: withSpec((_s, p) => delete p.spec), expect: { allowed: 'warning' } },
  { name: 'containers not a list', body: withSpec((s) => (s.containers = { name: 'app' })), expect: { allowed: 'warning' } },
  { name: 'a null container', body: withSpec((s) => (s.containers = [null])), expect: { allowed: 'warning' } },
  { name: 'container name a number', body: withSpec((s) => (s.containers = [{ name: 7 }])), expect: { allowed: 'warning' } },
  { name: 'env not a list', body: withSpec((s) => (s.containers = [{ name: 'a', env: 'X=1' }])), expect: { allowed: 'warning' } },
  { name: 'env entry without a name', body: withSpec((s) => (s.containers = [{ name: 'a', env: [{ value: '1' }] }])), expect: { allowed: 'warning' } },
  {
    name: 'annotation value an object',
    body: withSpec((_s, p) => ((p.metadata as Record<string, unknown>).annotations = { x: { y: 1 } })),
    expect: { allowed: 'warning' },
  },
  { name: 'projected sources a string', body: withSpec((s) => (s.volumes = [{ name: 'v', projected: { sources: 'all' } }])), expect: { allowed: 'warning' } },
  { name: 'hostNetwork "yes"', body: withSpec((s) => (s.hostNetwork = 'yes')), expect: { allowed: 'warning' } },
  { name: 'metadata a list', body: withSpec((_s, p) => (p.metadata = [])), expect: { allowed: 'warning' } },
  { name: '__proto__ keys', body: JSON.stringify(review()).replace('"labels":{', '"labels":{"__proto__":{"polluted":"yes"},'), expect: { allowed: 'warning' } },
  { name: 'a hostNetwork pod (valid, skipped)', body: withSpec((s) => (s.hostNetwork = true)), expect: { allowed: 'plain' } },
  {
    name: '3000 containers (valid, large)',
    body: withSpec((s) => (s.containers = Array.from({ length: 3000 }, (_, i) => ({ name: `c${i}`, image: 'x' })))),
    expect: { allowed: 'patched' },
  },
  { name: 'a normal pod', body: JSON.stringify(review()), expect: { allowed: 'patched' } },
];

/** Checks an answer against what its case expects: a coded 4xx, or an allowed review with or without a patch. */
function expectAnswer(res: { status: number; body: string }, expected: Expect, method?: string): void {
  if ('status' in expected) {
    expect(res.status).toBe(expected.status);
    if (res.status !== 404 || method !== 'GET')
      expect(JSON.parse(res.body)).toMatchObject({ code: 'BRIDGE_ERR_ADMISSION_REVIEW', message: expect.any(String) });
    return;
  }
  expect(res.status).toBe(200);
  const response = (JSON.parse(res.body) as { response: { uid: string; allowed: boolean; warnings?: string[]; patch?: string } }).response;
  expect(response.uid).toBe('uid-1');
  expect(response.allowed).toBe(true);
  if (expected.allowed === 'warning') expect(response.warnings?.length).toBeGreaterThan(0);
  if (expected.allowed === 'plain') expect(response.patch).toBeUndefined();
  if (expected.allowed === 'patched') expect(response.patch).toBeDefined();
}

let ca: CertificateAndKey;
let server: AdmissionServer;

/** Sends one request; what it should get back is checked by expectAnswer. */
function post(c: Omit<Case, 'name' | 'expect'>): Promise<{ status: number; body: string }> {
  const body = typeof c.body === 'string' ? Buffer.from(c.body) : c.body;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: server.port,
        method: c.method ?? 'POST',
        path: c.path ?? '/mutate',
        ca: ca.certPem,
        headers: { ...(c.contentType !== '' ? { 'content-type': c.contentType ?? 'application/json' } : {}), 'content-length': body.length, ...c.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(c.method === 'GET' ? undefined : body);
  });
}

beforeAll(async () => {
  ca = await generateCa('bad-input-ca');
  const tls = await issueCertificate(ca, { commonName: 'localhost', ipAddresses: ['127.0.0.1'], usage: 'server' });
  server = await startAdmissionServer({
    host: '127.0.0.1',
    port: 0,
    tls,
    maxBodyBytes: MAX_BODY,
    handler: { config },
    metrics: createWebhookMetrics(),
    log: createLogger('webhook-test', { level: 'silent' }),
  });
});

afterAll(async () => {
  await server.drain(1000);
});

describe('bad-input corpus over HTTPS', () => {
  it('has at least 30 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    expectAnswer(await post(c), c.expect, c.method);
  });

  it('still serves after the corpus, and Object.prototype is untouched', async () => {
    expectAnswer(await post({ body: JSON.stringify(review()) }), { allowed: 'patched' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

const WEIRD: unknown[] = [
  null,
  0,
  -1,
  1e308,
  '',
  'x',
  'false',
  true,
  [],
  {},
  [null],
  { name: 3 },
  [{}],
  'cluster-bridge-proxy',
  { __proto__: null },
  nested(80),
];

function paths(value: unknown, prefix: string[] = [], out: string[][] = []): string[][] {
  out.push(prefix);
  if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  return out;
}

function mutateReview(random: () => number): string {
  const r = review() as Record<string, unknown>;
  if (random() < 0.5) (r.request as Record<string, unknown>).operation = 'CREATE';
  const n = 1 + Math.floor(random() * 4);
  for (let i = 0; i < n; i++) {
    const all = paths(r).filter((p) => p.length > 0);
    const path = all[Math.floor(random() * all.length)]!;
    let parent: Record<string, unknown> = r;
    for (const key of path.slice(0, -1)) parent = parent[key] as Record<string, unknown>;
    const key = path.at(-1)!;
    const choice = random();
    if (choice < 0.3) delete parent[key];
    else if (choice < 0.8) parent[key] = structuredClone(WEIRD[Math.floor(random() * WEIRD.length)]);
    else if (Array.isArray(parent[key])) (parent[key] as unknown[]).push(structuredClone(parent[key] as unknown[]));
    else parent[key] = [parent[key]];
  }
  let text = JSON.stringify(r);
  if (random() < 0.15) {
    // Byte-level damage too: truncation or a flipped character.
    const at = Math.floor(random() * text.length);
    text = random() < 0.5 ? text.slice(0, at) : text.slice(0, at) + String.fromCharCode(32 + Math.floor(random() * 90)) + text.slice(at + 1);
  }
  return text;
}

describe('randomized reviews', () => {
  it('answers 4000 mutated reviews with 4xx or allowed, and every patch applies to its pod', () => {
    const seed = Number(process.env.BRIDGE_FUZZ_SEED ?? 20240611);
    const random = rng(seed);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 4000; i++) {
      const text = mutateReview(random);
      const result = handleAdmission(text, 'application/json', { config });
      counts[`${result.status}:${result.outcome.reason}`] = (counts[`${result.status}:${result.outcome.reason}`] ?? 0) + 1;
      if (result.status !== 200) {
        expect([400, 413, 415]).toContain(result.status);
        continue;
      }
      const response = (result.body as { response: { uid: string; allowed: boolean; patch?: string } }).response;
      const sent = (JSON.parse(text) as { request: { uid: string; object: unknown } }).request;
      expect(response.uid).toBe(sent.uid);
      expect(response.allowed).toBe(true);
      if (response.patch) {
        const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString()) as fastJsonPatch.Operation[];
        expect(() => fastJsonPatch.applyPatch(structuredClone(sent.object), ops, true, false)).not.toThrow();
      }
    }
    // The run must exercise both sides, or the generator has drifted into only one kind of input.
    expect(Object.keys(counts).some((k) => k.startsWith('400:'))).toBe(true);
    expect(Object.keys(counts).some((k) => k.startsWith('200:injected'))).toBe(true);
    expect(Object.keys(counts).some((k) => k.startsWith('200:invalid-pod'))).toBe(true);
  });

  it('answers 300 mutated reviews over HTTPS and keeps serving', async () => {
    const random = rng(7);
    for (let i = 0; i < 300; i++) {
      const res = await post({ body: mutateReview(random) });
      expect([200, 400, 413, 415]).toContain(res.status);
    }
    expectAnswer(await post({ body: JSON.stringify(review()) }), { allowed: 'patched' });
  });

  it('handles a gzip-encoded review (the API server may compress)', async () => {
    const res = await post({ body: gzipSync(JSON.stringify(review())), headers: { 'content-encoding': 'gzip' } });
    expectAnswer(res, { allowed: 'patched' });
    // The patch is the same as for the plain review: the body was really decompressed and read.
    const plain = await post({ body: JSON.stringify(review()) });
    expect(JSON.parse(res.body).response.patch).toBe(JSON.parse(plain.body).response.patch);
  });
});
