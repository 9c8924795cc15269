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
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { adminCredentials, requireLab } from '../lab/lab-files.js';
import { KubeRestClient } from '../lib/kube/rest-client.js';
import { repoRoot } from '../lib/process/paths.js';
import { generateCa, issueCertificate } from '../lib/tls/pki.js';
import { freePort } from '../lab/ports.js';
import { waitUntil } from '../lib/wait-until.js';
import { WatchEventDecoder } from '../lib/kube/watch-stream.js';
import { sidecarImageCommand } from '../sidecar/image-command.js';
import { interleavedRate, throughput, type RateResult, type Target } from './load.js';
import { childPids, nginxConfig, requireNginx } from './nginx.js';
import { fmt, memoryOf, percentile, type MemorySample } from './stats.js';

/** Watches through all targets at once; each event's arrival time per target, keyed by ConfigMap name. */
async function watchLatency(targets: Target[], namespace: string, api: KubeRestClient, events: number) {
  const arrivals = new Map<string, Map<string, number>>();
  const requests = targets.map(
    (target) =>
      new Promise<() => void>((ready) => {
        const req = request(
          `${target.base}/api/v1/namespaces/${namespace}/configmaps?watch=true&resourceVersion=0&labelSelector=w%3D1`,
          { ca: target.caPem, agent: false, headers: { authorization: `Bearer ${target.token}` } },
          (res) => {
            if (res.statusCode !== 200) throw new Error(`${target.name}: watch HTTP ${res.statusCode}`);
            const events = new WatchEventDecoder<{ metadata: { name: string } }>();
            res.on('data', (chunk: Buffer) => {
              const now = performance.now();
              events.push(chunk, (event) => {
                if (event.type !== 'ADDED') return;
                const name = event.object.metadata.name;
                if (!arrivals.has(name)) arrivals.set(name, new Map());
                arrivals.get(name)!.set(target.name, now);
              });
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
  const added: Record<string, number[]> = Object.fromEntries(targets.filter((t) => t.name !== 'direct').map((t) => [t.name, []]));
  for (const perTarget of arrivals.values()) {
    const base = perTarget.get('direct');
    if (base === undefined) continue;
    for (const name of Object.keys(added)) if (perTarget.has(name)) added[name]!.push(perTarget.get(name)! - base);
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

function rateLine(name: string, r: RateResult, direct: RateResult): string {
  const added =
    name === 'direct' ? '' : `  added p50 ${fmt(r.p50 - direct.p50, 3)}  p99 ${fmt(r.p99 - direct.p99, 3)}  proxy CPU ${fmt(r.cpuMsPerRequest, 3)} ms/req`;
  return `  ${name.padEnd(9)} cold p50 ${fmt(r.cold.p50, 3)} p99 ${fmt(r.cold.p99, 3)} (${r.cold.newConnections} connections opened) | steady p50 ${fmt(r.p50, 3)} p99 ${fmt(r.p99, 3)} (${r.newConnections} opened)${added}`;
}

function tailLine(name: string, r: RateResult): string {
  const rt = r.runtime;
  const runtime = rt
    ? `loop delay p50 ${fmt(rt.loopDelayP50Ms, 2)} p99 ${fmt(rt.loopDelayP99Ms, 2)} max ${fmt(rt.loopDelayMaxMs, 1)}  GC ${rt.gcCount} pauses, ${fmt(rt.gcTotalMs, 1)} ms total, max ${fmt(rt.gcMaxMs, 2)}  loop busy ${fmt(rt.loopUtilization * 100, 0)}%`
    : 'not a Node process: no runtime probe';
  return `  ${name.padEnd(9)} ${runtime}  generator ${fmt(r.generatorDelayP99Ms, 2)}`;
}

interface TargetRow {
  what: string;
  goal: number;
  atMost: boolean;
  /** A difference to the direct path: below zero the direct run was the noisier one, and nothing can be concluded. */
  difference?: boolean;
  value: (target: 'sidecar' | 'nginx' | 'node-pipe') => number;
}

function targetTable(rows: TargetRow[]): string {
  const header = `  ${'measure'.padEnd(42)} ${'target'.padStart(8)} ${'sidecar'.padStart(8)} ${'met'.padStart(4)} ${'nginx'.padStart(8)} ${'node-pipe'.padStart(10)}`;
  const body = rows.map((row) => {
    const sidecar = row.value('sidecar');
    const met = row.difference && sidecar < 0 ? '?' : (row.atMost ? sidecar <= row.goal : sidecar >= row.goal) ? 'yes' : 'NO';
    const goal = `${row.atMost ? '<=' : '>='}${row.goal}`;
    return `  ${row.what.padEnd(42)} ${goal.padStart(8)} ${fmt(sidecar).padStart(8)} ${met.padStart(4)} ${fmt(row.value('nginx')).padStart(8)} ${fmt(row.value('node-pipe')).padStart(10)}`;
  });
  return [header, ...body].join('\n');
}

/**
 * An earlier run's namespace (1,000 ConfigMaps) still being deleted keeps the API server busy, and one
 * left by a killed run is deleted here: either way, measure only once it is gone.
 */
async function settled(api: KubeRestClient): Promise<void> {
  const earlier = async () => {
    const list = await api.expect<{ items: { metadata: { name: string } }[] }>('GET', '/api/v1/namespaces', [200]);
    return list.body.items.map((n) => n.metadata.name).filter((name) => name.startsWith('bench-sidecar-'));
  };
  for (const name of await earlier()) await api.request('DELETE', `/api/v1/namespaces/${name}`);
  await waitUntil('earlier benchmark namespaces to be deleted', async () => (await earlier()).length === 0, { timeoutMs: 180_000, intervalMs: 1000 });
}

async function main(): Promise<void> {
  requireNginx();
  const lab = requireLab();
  const direct = lab.clusters.source.server;
  const admin = adminCredentials('source');
  const sourceCa = admin.caPem;
  const api = KubeRestClient.withCredentials(direct, admin);
  await settled(api);
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
  const token = tr.body.status.token;
  // The RoleBinding reaches the API server's authorizer a moment after it is created.
  const asBench = KubeRestClient.withCredentials(direct, { caPem: admin.caPem, token });
  await waitUntil(
    'the benchmark token to be authorized',
    async () => (await asBench.request('GET', `/api/v1/namespaces/${namespace}/configmaps`)).status === 200,
    {
      timeoutMs: 30_000,
      intervalMs: 200,
    },
  );
  asBench.close();
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
  const [sidecarPort, opsPort, nginxPort, pipePort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const children: ChildProcess[] = [];
  // Whatever ends this process (an error, a signal) ends the proxies it started.
  process.once('exit', () => children.forEach((child) => child.kill('SIGKILL')));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(1));
  // Run exactly as the image does (Dockerfile.sidecar's ENTRYPOINT), plus the runtime probe.
  const command = imageCommand();
  const probe = join(repoRoot(), 'dist/bench/runtime-probe.js');
  const sidecar = spawn(process.execPath, ['--import', probe, ...command.args], {
    stdio: 'ignore',
    env: {
      ...process.env,
      BENCH_PROBE_FILE: join(dir, 'sidecar-probe.json'),
      BRIDGE_UPSTREAM: direct,
      BRIDGE_LOCAL_APISERVER: new URL(direct).host,
      BRIDGE_LOCAL_CA_FILE: join(dir, 'ca.crt'),
      BRIDGE_TLS_DIR: dir,
      BRIDGE_LISTEN_PORT: String(sidecarPort),
      BRIDGE_OPS_PORT: String(opsPort),
      BRIDGE_LOG_LEVEL: 'warn',
      BRIDGE_LOCAL_ROUTING: 'off',
    },
  });
  children.push(sidecar);
  // The same V8 flags as the sidecar, so the difference is the HTTP layer and what it decides per request.
  const pipe = spawn(process.execPath, ['--import', probe, ...command.args.slice(0, -1), join(repoRoot(), 'dist/bench/tls-byte-pipe.js')], {
    stdio: 'ignore',
    env: { ...process.env, BENCH_PROBE_FILE: join(dir, 'pipe-probe.json'), PIPE_PORT: String(pipePort), PIPE_TLS_DIR: dir, PIPE_UPSTREAM: direct },
  });
  children.push(pipe);
  writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, nginxPort, new URL(direct).host));
  const nginx = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
  children.push(nginx);
  try {
    await waitHttp(`http://127.0.0.1:${opsPort}/readyz`);
    await sleep(500);
    const started: MemorySample = memoryOf([sidecar.pid!]);
    const bundle = sourceCa + bridgeCa.certPem;
    const directPid = lab.clusters.source.daemons.find((d) => d.name === 'kube-apiserver')?.pid;
    const targets: Target[] = [
      { name: 'direct', base: direct, caPem: sourceCa, pids: directPid ? [directPid] : [], token },
      { name: 'sidecar', base: `https://127.0.0.1:${sidecarPort}`, caPem: bundle, pids: [sidecar.pid!], probeFile: join(dir, 'sidecar-probe.json'), token },
      { name: 'nginx', base: `https://127.0.0.1:${nginxPort}`, caPem: bundle, pids: [nginx.pid!, ...childPids(nginx.pid!)], token },
      { name: 'node-pipe', base: `https://127.0.0.1:${pipePort}`, caPem: bundle, pids: [pipe.pid!], probeFile: join(dir, 'pipe-probe.json'), token },
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
    out('node-pipe: a TLS byte pipe in Node with the same flags (bench/tls-byte-pipe.ts): no HTTP parsing, no per-request decision');

    const rate500 = await interleavedRate(targets, small, 500, 2, 4, 2);
    out('\nsmall GET at 500 req/s, open loop, a new client per target: 2 s cold (it opens its connections), then 8 s steady in 2 s turns; latency ms');
    for (const t of targets) out(rateLine(t.name, rate500[t.name]!, rate500.direct!));
    out(
      "\nwhere the steady tail comes from: each Node proxy's own runtime (loop delay beyond the probe's 5 ms timer, worst 2 s turn), and the load generator's loop delay p99",
    );
    for (const t of proxies) out(tailLine(t.name, rate500[t.name]!));

    const peak: Record<string, MemorySample> = Object.fromEntries(proxies.map((t) => [t.name, { rssMb: 0, anonMb: 0 }]));
    const rate1000 = await interleavedRate(proxies, small, 1000, 1, 2, 2, (t) => {
      const m = memoryOf(t.pids);
      const max = peak[t.name]!;
      peak[t.name] = { rssMb: Math.max(max.rssMb, m.rssMb), anonMb: Math.max(max.anonMb, m.anonMb) };
    });
    out(
      `\nmemory MB (idle after warm-up | peak during small GETs at 1,000 req/s); sidecar right after start, before any request: RSS ${fmt(started.rssMb, 1)}, private anon ${fmt(started.anonMb, 1)}`,
    );
    for (const t of proxies) {
      const r = rate1000[t.name]!;
      out(
        `  ${t.name.padEnd(9)} RSS ${fmt(idle[t.name]!.rssMb, 1)} | ${fmt(peak[t.name]!.rssMb, 1)}   private anon ${fmt(idle[t.name]!.anonMb, 1)} | ${fmt(peak[t.name]!.anonMb, 1)}   CPU ${fmt(r.cpuMsPerRequest, 3)} ms/req  p99 ${fmt(r.p99, 3)}  new connections ${r.cold.newConnections}+${r.newConnections}`,
      );
    }

    out('\nthroughput (closed loop)');
    const throughputs: Record<string, Record<string, Awaited<ReturnType<typeof throughput>>>> = {};
    for (const [label, path, concurrency] of [
      ['small GET, 16 clients', small, 16],
      ['LIST 1,000 ConfigMaps, 4 clients', list, 4],
    ] as const) {
      const results: Record<string, Awaited<ReturnType<typeof throughput>>> = {};
      for (const t of targets) results[t.name] = await throughput(t, path, concurrency, 5);
      throughputs[label] = results;
      out(`  ${label}:`);
      for (const t of targets) {
        const r = results[t.name]!;
        const ratio =
          t.name === 'direct'
            ? ''
            : `  x direct ${fmt(r.rps / results.direct!.rps)}  x nginx ${fmt(r.rps / results.nginx!.rps)}  proxy CPU ${fmt(r.cpuCores, 2)} cores`;
        out(`    ${t.name.padEnd(9)} ${fmt(r.rps, 0)} req/s  ${fmt(r.mbps, 1)} MB/s${ratio}`);
      }
    }

    const watch = await watchLatency(targets, namespace, api, 200);
    out('\nwatch event delivery, 200 events on simultaneous watches: added ms vs the direct watch');
    out(`  delivered: ${JSON.stringify(watch.delivered)}`);
    for (const name of Object.keys(watch.added))
      out(`  ${name.padEnd(9)} added p50 ${fmt(percentile(watch.added[name]!, 50), 3)}  p99 ${fmt(percentile(watch.added[name]!, 99), 3)}`);

    const smallGets = throughputs['small GET, 16 clients']!;
    out('\ntargets (issue 10), sidecar against nginx and the Node byte pipe in this run');
    out(
      targetTable([
        { what: 'added p50 at 500 req/s, steady (ms)', goal: 0.3, atMost: true, difference: true, value: (n) => rate500[n]!.p50 - rate500.direct!.p50 },
        { what: 'added p99 at 500 req/s, steady (ms)', goal: 1.5, atMost: true, difference: true, value: (n) => rate500[n]!.p99 - rate500.direct!.p99 },
        {
          what: 'added p99 at 500 req/s, cold client (ms)',
          goal: 1.5,
          atMost: true,
          difference: true,
          value: (n) => rate500[n]!.cold.p99 - rate500.direct!.cold.p99,
        },
        { what: 'small-GET throughput x nginx', goal: 0.8, atMost: false, value: (n) => smallGets[n]!.rps / smallGets.nginx!.rps },
        { what: 'private memory idle (MB)', goal: 16, atMost: true, value: (n) => idle[n]!.anonMb },
        { what: 'private memory peak at 1,000 req/s (MB)', goal: 32, atMost: true, value: (n) => peak[n]!.anonMb },
      ]),
    );
    writeFileSync(join(dir, 'results.txt'), `${lines.join('\n')}\n`);
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await api.request('DELETE', `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    api.close();
  }
}

await main();
