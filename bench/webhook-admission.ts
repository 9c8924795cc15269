/**
 * Admission benchmark (not a test): latency p50/p99 and throughput at concurrency 1 and 32 for a realistic
 * Deployment pod, and p99 at a steady 200 requests/s, each side by side with a no-op handler in the same
 * HTTPS + express stack (the floor), plus the server's RSS. The server runs in a child process so the
 * load generator does not share its event loop.
 *
 *   npx tsc -p tsconfig.json && node_modules/.bin/node dist/bench/webhook-admission.js
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { createLogger } from '../lib/process/logger.js';
import { repoRoot } from '../lib/process/paths.js';
import { generateCa, issueCertificate } from '../lib/tls/pki.js';
import { reviewResponse } from '../webhook/admission-review.js';
import { handleAdmission, type HandlerResult } from '../webhook/admission-handler.js';
import { startAdmissionServer } from '../webhook/admission-server.js';
import { defaultInjectionConfig } from '../webhook/injection-config.js';
import { createWebhookMetrics } from '../webhook/metrics.js';

/** The floor: read the body, parse the JSON, answer allowed with the uid. */
function noop(raw: Buffer | string): HandlerResult {
  const body = JSON.parse(raw.toString()) as { request: { uid: string } };
  return {
    status: 200,
    body: reviewResponse({ uid: body.request.uid, allowed: true }),
    outcome: { reason: 'not-pod-create', dryRun: false, patchOperations: 0 },
  };
}

async function serve(kind: string): Promise<void> {
  const ca = await generateCa('bench');
  const tls = await issueCertificate(ca, { commonName: 'localhost', ipAddresses: ['127.0.0.1'], usage: 'server' });
  const server = await startAdmissionServer({
    host: '127.0.0.1',
    port: 0,
    tls,
    handler: { config: defaultInjectionConfig() },
    metrics: createWebhookMetrics(),
    log: createLogger('webhook-bench', { level: 'warn' }),
    handle: kind === 'noop' ? noop : handleAdmission,
  });
  process.stdout.write(`${JSON.stringify({ port: server.port, ca: ca.certPem })}\n`);
}

function reviewBody(): string {
  const pod = parse(readFileSync(join(repoRoot(), 'test', 'golden', 'webhook', 'deployment-pod.yaml'), 'utf8')) as object;
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      operation: 'CREATE',
      namespace: 'apps',
      object: pod,
    },
  });
}

interface Target {
  child: ChildProcess;
  port: number;
  agent: Agent;
}

async function startChild(kind: string): Promise<Target> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve', kind], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(d.toString())));
  const { port, ca } = JSON.parse(line) as { port: number; ca: string };
  return { child, port, agent: new Agent({ keepAlive: true, maxSockets: 64, ca }) };
}

function once(target: Target, body: string): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: target.port,
        path: '/mutate',
        method: 'POST',
        agent: target.agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve(Number(process.hrtime.bigint() - started) / 1e6) : reject(new Error(`HTTP ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

interface Result {
  p50: number;
  p99: number;
  rps: number;
  rss: number;
}

async function closedLoop(target: Target, body: string, concurrency: number, total: number): Promise<Result> {
  const latencies: number[] = [];
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < total) latencies.push(await once(target, body));
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  return { p50: pct(latencies, 50), p99: pct(latencies, 99), rps: latencies.length / seconds, rss: rssMb(target.child.pid!) };
}

/** Open loop: one request every 1000/rate ms regardless of answers, as an API server under steady load. */
async function steadyRate(target: Target, body: string, rate: number, seconds: number): Promise<Result> {
  const latencies: Promise<number>[] = [];
  const interval = 1000 / rate;
  const start = performance.now();
  for (let i = 0; i < rate * seconds; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    latencies.push(once(target, body));
  }
  const all = (await Promise.all(latencies)).sort((a, b) => a - b);
  return { p50: pct(all, 50), p99: pct(all, 99), rps: all.length / ((performance.now() - start) / 1000), rss: rssMb(target.child.pid!) };
}

async function main(): Promise<void> {
  const body = reviewBody();
  const targets = { noop: await startChild('noop'), inject: await startChild('inject') };
  const rows: string[] = [];
  const fmt = (r: Result) => `p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  ${r.rps.toFixed(0)} req/s  RSS ${r.rss.toFixed(0)} MB`;
  for (const target of Object.values(targets)) await closedLoop(target, body, 8, 1500); // warm-up (JIT, TLS sessions)
  const scenarios: [string, (t: Target) => Promise<Result>][] = [
    ['concurrency 1', (t) => closedLoop(t, body, 1, 3000)],
    ['concurrency 32', (t) => closedLoop(t, body, 32, 6000)],
    ['steady 200 req/s', (t) => steadyRate(t, body, 200, 10)],
  ];
  for (const [name, run] of scenarios) {
    const floor = await run(targets.noop);
    const inject = await run(targets.inject);
    rows.push(`${name}`, `  no-op floor: ${fmt(floor)}`, `  inject:      ${fmt(inject)}`);
    rows.push(
      `  ratio inject/floor: p50 ${(inject.p50 / floor.p50).toFixed(2)}x  p99 ${(inject.p99 / floor.p99).toFixed(2)}x  throughput ${(inject.rps / floor.rps).toFixed(2)}x`,
    );
  }
  process.stdout.write(`webhook admission benchmark (review ${body.length} bytes, Deployment pod with a service-account volume)\n${rows.join('\n')}\n`);
  for (const target of Object.values(targets)) {
    target.agent.destroy();
    target.child.kill('SIGTERM');
  }
}

if (process.argv[2] === '--serve') await serve(process.argv[3] ?? 'inject');
else await main();
