/**
 * Sidecar benchmark (not a test): the lab's source API server reached directly, through the sidecar
 * (a child process, as in a pod) and through nginx as an equivalent TLS reverse proxy, side by side in
 * one run. Small GET, LIST of 1,000 ConfigMaps, watch event delivery; added latency p50/p99 at a fixed
 * rate, closed-loop throughput, CPU, and memory idle and under load (RSS and private anonymous memory
 * from /proc/PID/smaps_rollup). Needs the lab (`bridgectl lab up`) and Debian's `nginx`.
 *
 *   npm run bench:sidecar   (tsc, the sidecar bundle, then dist/bench/sidecar-proxy.js)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { adminCredentials, requireLab } from '../lab/lab-files.js';
import { KubeRestClient } from '../lib/kube-rest-client.js';
import { repoRoot } from '../lib/paths.js';
import { generateCa, issueCertificate } from '../lib/pki.js';
import { freePort } from '../lib/ports.js';
import { waitUntil } from '../lib/wait-until.js';
import { sidecarImageCommand } from '../sidecar/image-command.js';
import { cpuOf, fmt, memoryOf, percentile, type MemorySample } from './stats.js';

interface Target {
  name: 'direct' | 'sidecar' | 'nginx';
  base: string;
  caPem: string;
  pids: number[];
}

let token = '';

function call(target: Target, agent: Agent, path: string): Promise<{ ms: number; bytes: number; status: number }> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(
      `${target.base}${path}`,
      { agent, ca: target.caPem, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } },
      (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`${target.name}: HTTP ${res.statusCode} for ${path}`));
          else resolve({ ms: Number(process.hrtime.bigint() - start) / 1e6, bytes, status: res.statusCode });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Open loop: one request every 1000/rate ms regardless of answers, as independent clients would. */
async function fixedRate(target: Target, path: string, rate: number, seconds: number, onTick?: () => void) {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const total = rate * seconds;
  const start = performance.now();
  const cpu0 = cpuOf(target.pids);
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    if (i % Math.max(1, Math.floor(rate / 10)) === 0) onTick?.();
    pending.push(call(target, agent, path).then((r) => void latencies.push(r.ms)));
  }
  await Promise.all(pending);
  const cpu = cpuOf(target.pids) - cpu0;
  agent.destroy();
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), cpuMsPerRequest: (cpu * 1000) / total };
}

/** Closed loop: `concurrency` clients, each sending its next request as soon as the last one returns. */
async function throughput(target: Target, path: string, concurrency: number, seconds: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const end = performance.now() + seconds * 1000;
  let count = 0;
  let bytes = 0;
  const cpu0 = cpuOf(target.pids);
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const r = await call(target, agent, path);
        count++;
        bytes += r.bytes;
      }
    }),
  );
  const cpu = cpuOf(target.pids) - cpu0;
  agent.destroy();
  return { rps: count / seconds, mbps: bytes / seconds / 1e6, cpuCores: cpu / seconds };
}

/** Watches through all targets at once; each event's arrival time per target, keyed by ConfigMap name. */
async function watchLatency(targets: Target[], namespace: string, api: KubeRestClient, events: number) {
  const arrivals = new Map<string, Map<string, number>>();
  const requests = targets.map(
    (target) =>
      new Promise<() => void>((ready) => {
        const req = request(
          `${target.base}/api/v1/namespaces/${namespace}/configmaps?watch=true&resourceVersion=0&labelSelector=w%3D1`,
          { ca: target.caPem, agent: false, headers: { authorization: `Bearer ${token}` } },
          (res) => {
            let buffered = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              const now = performance.now();
              buffered += chunk;
              let nl;
              while ((nl = buffered.indexOf('\n')) >= 0) {
                if (res.statusCode !== 200) throw new Error(`${target.name}: watch HTTP ${res.statusCode}`);
                const event = JSON.parse(buffered.slice(0, nl)) as { type: string; object: { metadata: { name: string } } };
                buffered = buffered.slice(nl + 1);
                if (event.type !== 'ADDED') continue;
                const name = event.object.metadata.name;
                if (!arrivals.has(name)) arrivals.set(name, new Map());
                arrivals.get(name)!.set(target.name, now);
              }
            });
            ready(() => req.destroy());
          },
        );
        req.on('error', () => {});
        req.end();
      }),
  );
  const closers = await Promise.all(requests);
  await sleep(300);
  for (let i = 0; i < events; i++) {
    await api.request('POST', `/api/v1/namespaces/${namespace}/configmaps`, { metadata: { name: `w-${i}`, labels: { w: '1' } } });
    await sleep(20);
  }
  await sleep(500);
  for (const close of closers) close();
  const added: Record<string, number[]> = { sidecar: [], nginx: [] };
  for (const perTarget of arrivals.values()) {
    const base = perTarget.get('direct');
    if (base === undefined) continue;
    for (const name of ['sidecar', 'nginx']) if (perTarget.has(name)) added[name]!.push(perTarget.get(name)! - base);
  }
  return { delivered: Object.fromEntries(targets.map((t) => [t.name, [...arrivals.values()].filter((m) => m.has(t.name)).length])), added };
}

async function waitHttp(url: string): Promise<void> {
  await waitUntil(`${url} to answer 200`, async () => (await fetch(url)).ok, { timeoutMs: 10_000, intervalMs: 100 });
}

/** The image's command line, so the benchmark measures what pods run; BENCH_SIDECAR_NODE_ARGS overrides the flags. */
function imageCommand(): { args: string[]; label: string } {
  const { nodeFlags, entry } = sidecarImageCommand();
  const flags = process.env.BENCH_SIDECAR_NODE_ARGS !== undefined ? process.env.BENCH_SIDECAR_NODE_ARGS.split(' ').filter(Boolean) : nodeFlags;
  return { args: [...flags, entry], label: [...flags, relative(repoRoot(), entry)].join(' ') };
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function main(): Promise<void> {
  const lab = requireLab();
  const direct = lab.clusters.source.server;
  const admin = adminCredentials('source');
  const sourceCa = admin.caPem;
  const api = KubeRestClient.withCredentials(direct, admin);
  const namespace = `bench-sidecar-${Date.now().toString(36)}`;
  await api.expect('POST', '/api/v1/namespaces', [201], { metadata: { name: namespace } });
  await api.expect('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, [201], { metadata: { name: 'bench' } });
  await api.expect('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`, [201], {
    metadata: { name: 'bench-edit' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
    subjects: [{ kind: 'ServiceAccount', name: 'bench', namespace }],
  });
  const tr = await api.expect<{ status: { token: string } }>('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/bench/token`, [201], {
    spec: { expirationSeconds: 7200 },
  });
  token = tr.body.status.token;
  process.stderr.write(`creating 1,000 ConfigMaps in ${namespace}...\n`);
  for (let i = 0; i < 1000; i += 20) {
    await Promise.all(
      Array.from({ length: 20 }, (_, j) =>
        api.request('POST', `/api/v1/namespaces/${namespace}/configmaps`, { metadata: { name: `cm-${i + j}` }, data: { key: 'value-'.repeat(10) } }),
      ),
    );
  }

  const dir = mkdtempSync(join(tmpdir(), 'bench-sidecar-'));
  const bridgeCa = await generateCa('bench-bridge-ca');
  const loopback = await issueCertificate(bridgeCa, { commonName: 'loopback', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server' });
  writeFileSync(join(dir, 'tls.crt'), loopback.certPem);
  writeFileSync(join(dir, 'tls.key'), loopback.keyPem);
  writeFileSync(join(dir, 'ca.crt'), sourceCa);
  const [sidecarPort, opsPort, nginxPort] = [await freePort(), await freePort(), await freePort()];
  const children: ChildProcess[] = [];
  // Run exactly as the image does (Dockerfile.sidecar's ENTRYPOINT).
  const command = imageCommand();
  const sidecar = spawn(process.execPath, command.args, {
    stdio: 'ignore',
    env: {
      ...process.env,
      BRIDGE_UPSTREAM: direct,
      BRIDGE_LOCAL_APISERVER: new URL(direct).host,
      BRIDGE_LOCAL_CA_FILE: join(dir, 'ca.crt'),
      BRIDGE_TLS_DIR: dir,
      BRIDGE_LISTEN_PORT: String(sidecarPort),
      BRIDGE_OPS_PORT: String(opsPort),
      BRIDGE_LOG_LEVEL: 'warn',
    },
  });
  children.push(sidecar);
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
error_log ${dir}/nginx-error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  upstream apiserver { server ${new URL(direct).host}; keepalive 64; }
  server {
    listen 127.0.0.1:${nginxPort} ssl;
    ssl_certificate ${dir}/tls.crt;
    ssl_certificate_key ${dir}/tls.key;
    keepalive_requests 100000;
    location / {
      proxy_pass https://apiserver;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_ssl_trusted_certificate ${dir}/ca.crt;
      proxy_ssl_verify on;
      proxy_ssl_name localhost;
      proxy_ssl_session_reuse on;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 3600s;
    }
  }
}
`,
  );
  const nginx = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
  children.push(nginx);
  try {
    await waitHttp(`http://127.0.0.1:${opsPort}/readyz`);
    await sleep(500);
    const started: MemorySample = memoryOf([sidecar.pid!]);
    const bundle = sourceCa + bridgeCa.certPem;
    const directPid = lab.clusters.source.daemons.find((d) => d.name === 'kube-apiserver')?.pid;
    const targets: Target[] = [
      { name: 'direct', base: direct, caPem: sourceCa, pids: directPid ? [directPid] : [] },
      { name: 'sidecar', base: `https://127.0.0.1:${sidecarPort}`, caPem: bundle, pids: [sidecar.pid!] },
      { name: 'nginx', base: `https://127.0.0.1:${nginxPort}`, caPem: bundle, pids: [nginx.pid!, ...childPids(nginx.pid!)] },
    ];
    const small = `/api/v1/namespaces/${namespace}/configmaps/cm-1`;
    const list = `/api/v1/namespaces/${namespace}/configmaps`;
    for (const t of targets) await throughput(t, small, 4, 1); // warm-up: pools, TLS sessions, JIT
    const proxies = targets.slice(1);
    const idle: Record<string, MemorySample> = {};
    await sleep(1000);
    for (const t of proxies) idle[t.name] = memoryOf(t.pids);
    const loadAverage = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

    const lines: string[] = [];
    const out = (line: string) => {
      lines.push(line);
      process.stdout.write(`${line}\n`);
    };
    out(`sidecar benchmark against kube-apiserver ${lab.kubernetesVersion} (one run; 2 shared cores, load generator in the same machine)`);
    out(`sidecar: node ${command.label}   (load average before the run: ${loadAverage})`);

    const rate500: Record<string, Awaited<ReturnType<typeof fixedRate>>> = {};
    for (const t of targets) rate500[t.name] = await fixedRate(t, small, 500, 6);
    out('\nsmall GET at 500 req/s (open loop, 3,000 requests): latency ms');
    for (const t of targets) {
      const r = rate500[t.name]!;
      const added =
        t.name === 'direct'
          ? ''
          : `  added p50 ${fmt(r.p50 - rate500.direct!.p50, 3)}  added p99 ${fmt(r.p99 - rate500.direct!.p99, 3)}  proxy CPU ${fmt(r.cpuMsPerRequest, 3)} ms/req`;
      out(`  ${t.name.padEnd(8)} p50 ${fmt(r.p50, 3)}  p99 ${fmt(r.p99, 3)}${added}`);
    }

    const peak: Record<string, MemorySample> = {};
    const rate1000: Record<string, Awaited<ReturnType<typeof fixedRate>>> = {};
    for (const t of proxies) {
      let max: MemorySample = { rssMb: 0, anonMb: 0 };
      rate1000[t.name] = await fixedRate(t, small, 1000, 4, () => {
        const m = memoryOf(t.pids);
        max = { rssMb: Math.max(max.rssMb, m.rssMb), anonMb: Math.max(max.anonMb, m.anonMb) };
      });
      peak[t.name] = max;
    }
    out(
      `\nmemory MB (idle after warm-up | peak during small GETs at 1,000 req/s); sidecar right after start, before any request: RSS ${fmt(started.rssMb, 1)}, private anon ${fmt(started.anonMb, 1)}`,
    );
    for (const t of proxies)
      out(
        `  ${t.name.padEnd(8)} RSS ${fmt(idle[t.name]!.rssMb, 1)} | ${fmt(peak[t.name]!.rssMb, 1)}   private anon ${fmt(idle[t.name]!.anonMb, 1)} | ${fmt(peak[t.name]!.anonMb, 1)}   CPU ${fmt(rate1000[t.name]!.cpuMsPerRequest, 3)} ms/req`,
      );

    out('\nthroughput (closed loop)');
    for (const [label, path, concurrency] of [
      ['small GET, 16 clients', small, 16],
      ['LIST 1,000 ConfigMaps, 4 clients', list, 4],
    ] as const) {
      const results: Record<string, Awaited<ReturnType<typeof throughput>>> = {};
      for (const t of targets) results[t.name] = await throughput(t, path, concurrency, 5);
      out(`  ${label}:`);
      for (const t of targets) {
        const r = results[t.name]!;
        const ratio =
          t.name === 'direct'
            ? ''
            : `  x direct ${fmt(r.rps / results.direct!.rps)}${t.name === 'sidecar' ? `  x nginx ${fmt(r.rps / results.nginx!.rps)}` : ''}  proxy CPU ${fmt(r.cpuCores, 2)} cores`;
        out(`    ${t.name.padEnd(8)} ${fmt(r.rps, 0)} req/s  ${fmt(r.mbps, 1)} MB/s${ratio}`);
      }
    }

    const watch = await watchLatency(targets, namespace, api, 200);
    out('\nwatch event delivery, 200 events on three simultaneous watches: added ms vs the direct watch');
    out(`  delivered: ${JSON.stringify(watch.delivered)}`);
    for (const name of ['sidecar', 'nginx'])
      out(`  ${name.padEnd(8)} added p50 ${fmt(percentile(watch.added[name]!, 50), 3)}  p99 ${fmt(percentile(watch.added[name]!, 99), 3)}`);
    writeFileSync(join(dir, 'results.txt'), `${lines.join('\n')}\n`);
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await api.request('DELETE', `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    api.close();
  }
}

await main();
