/**
 * Aggregator benchmark (not a test): what the aggregator hop adds to an API call, side by side in one
 * run with nginx doing the same hops. Uses the lab's installed bridge (`bridgectl lab up`, `bridgectl
 * lab install`) and Debian's `nginx`:
 *   direct               the source API server
 *   nginx                one TLS reverse-proxy hop to it
 *   node floor           the smallest correct TLS reverse proxy in Node (bench/node-floor.ts): what Node
 *                        itself costs on the aggregator's path
 *   undici floor         the same with undici's Pool as its upstream client instead of node:https
 *   aggregator           the lab's aggregator, called directly with the workload's token (one hop)
 *   nginx+nginx          two nginx hops
 *   sidecar              a sidecar whose upstream is the source API server (the sidecar alone, one hop)
 *   sidecar+aggregator   a sidecar whose upstream is the aggregator, local routing off: a pod's call (two hops)
 *   sidecar local-route  the same sidecar with local routing on (docs/adr/0011): source-owned calls go
 *                        straight to the source API server, so they must cost no more than the sidecar alone
 * The requests read a shard the source owns (configmaps in lab-apps): the aggregator routes it and
 * pipes the answer untouched, its common case before and during a rollout. The three sidecars run the
 * image's command with the lab sidecar's certificates (`bridgectl lab install`).
 *
 *   npm run bench:aggregator
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LAB_APPS_NAMESPACE } from '../lab/install-context.js';
import { adminCredentials, requireLab } from '../lab/lab-files.js';
import { KubeRestClient } from '../lib/kube/rest-client.js';
import { labDir, repoRoot } from '../lib/process/paths.js';
import { generateCa, issueCertificate, type CertificateAndKey } from '../lib/tls/pki.js';
import { freePort } from '../lab/ports.js';
import { call, interleavedRate, throughput, type RateResult, type Target } from './load.js';
import { childPids, nginxConfig, requireNginx } from './nginx.js';
import { fmt } from './stats.js';
import { choices, installed, startBenchSidecar, workloadCredentials } from './lab-bridge.js';
import { waitUntil } from '../lib/wait-until.js';

const OBJECTS = 200;
const PREFIX = 'bench-aggregator-';

/** The aggregator's own runtime numbers from its /metrics (prom-client's default metrics). */
interface RuntimeMetrics {
  heapUsedMb: number;
  residentMb: number;
  /** GC pauses by kind (minor, major, incremental, weakcb): count and total seconds since start. */
  gc: Record<string, { count: number; seconds: number }>;
}

async function runtimeMetrics(opsPort: number): Promise<RuntimeMetrics> {
  const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^cluster_bridge_aggregator_${name} ([\\d.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN);
  const gc: RuntimeMetrics['gc'] = {};
  for (const m of text.matchAll(/^cluster_bridge_aggregator_nodejs_gc_duration_seconds_(sum|count)\{kind="(\w+)"\} ([\d.e+-]+)$/gm)) {
    const kind = (gc[m[2]!] ??= { count: 0, seconds: 0 });
    if (m[1] === 'sum') kind.seconds = Number(m[3]);
    else kind.count = Number(m[3]);
  }
  return { heapUsedMb: value('nodejs_heap_size_used_bytes') / 1e6, residentMb: value('process_resident_memory_bytes') / 1e6, gc };
}

/** GC pauses between two readings, by kind: "major 3 in 41 ms". */
function gcBetween(before: RuntimeMetrics, after: RuntimeMetrics): string {
  return Object.entries(after.gc)
    .map(([kind, { count, seconds }]) => {
      const was = before.gc[kind] ?? { count: 0, seconds: 0 };
      return `${kind} ${count - was.count} in ${fmt((seconds - was.seconds) * 1000, 0)} ms`;
    })
    .join(', ');
}

/** One nginx in its own directory, serving a loopback certificate of `servingCa`, trusting `upstreamCaPem` upstream. */
function startNginx(servingCa: CertificateAndKey, loopback: CertificateAndKey, upstreamHost: string, upstreamCaPem: string, port: number): ChildProcess {
  const dir = mkdtempSync(join(tmpdir(), 'bench-aggregator-nginx-'));
  writeFileSync(join(dir, 'tls.crt'), loopback.certPem);
  writeFileSync(join(dir, 'tls.key'), loopback.keyPem);
  writeFileSync(join(dir, 'ca.crt'), upstreamCaPem);
  writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, port, upstreamHost));
  return spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
}

/** A floor peer (bench/node-floor.ts) in its own Node process, started as the lab starts the aggregator (no flags); resolves once it listens. */
async function startFloor(
  client: 'https' | 'undici',
  loopback: CertificateAndKey,
  upstream: string,
  upstreamCaPem: string,
): Promise<{ child: ChildProcess; port: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-aggregator-floor-'));
  writeFileSync(join(dir, 'tls.crt'), loopback.certPem);
  writeFileSync(join(dir, 'tls.key'), loopback.keyPem);
  writeFileSync(join(dir, 'ca.crt'), upstreamCaPem);
  const port = await freePort();
  const child = spawn(process.execPath, [join(repoRoot(), 'dist/bench/node-floor.js')], {
    stdio: 'ignore',
    env: { ...process.env, FLOOR_PORT: String(port), FLOOR_TLS_DIR: dir, FLOOR_UPSTREAM: upstream, FLOOR_CLIENT: client },
  });
  const listening = () =>
    new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => resolve(true)).on('error', () => resolve(false));
      socket.on('connect', () => socket.destroy());
    });
  await waitUntil(`the ${client} floor to listen`, async () => ((await listening()) ? true : undefined), {
    timeoutMs: 10_000,
    intervalMs: 50,
    abandon: () => (child.exitCode !== null ? `it exited with code ${child.exitCode}` : undefined),
  });
  return { child, port };
}

function rateLine(name: string, r: RateResult, direct: RateResult): string {
  const added =
    name === 'direct' ? '' : `  added p50 ${fmt(r.p50 - direct.p50, 3)}  p99 ${fmt(r.p99 - direct.p99, 3)}  proxies' CPU ${fmt(r.cpuMsPerRequest, 3)} ms/req`;
  return `  ${name.padEnd(19)} steady p50 ${fmt(r.p50, 3)} p99 ${fmt(r.p99, 3)} | cold p99 ${fmt(r.cold.p99, 3)}${added}`;
}

async function seed(api: KubeRestClient): Promise<void> {
  for (let i = 0; i < OBJECTS; i += 20) {
    await Promise.all(
      Array.from({ length: 20 }, (_, j) =>
        api.request('POST', `/api/v1/namespaces/${LAB_APPS_NAMESPACE}/configmaps`, {
          metadata: { name: `${PREFIX}${i + j}`, labels: { bench: 'aggregator' } },
          data: { key: 'value-'.repeat(10) },
        }),
      ),
    );
  }
}

async function main(): Promise<void> {
  requireNginx();
  const lab = requireLab();
  const direct = lab.clusters.source.server;
  const admin = adminCredentials('source');
  const api = KubeRestClient.withCredentials(direct, admin);
  const { token, caPem: workloadCa } = workloadCredentials();
  const aggregator = installed('aggregator');
  installed('sidecar');
  const bridgeCaPem = readFileSync(join(labDir(), 'install', 'bridge-ca.crt'), 'utf8');
  // The lab sidecar's files: loopback certificate, client certificate of lab-apps, bridge CA; the cluster CA.
  const sidecarDir = join(labDir(), 'install', 'sidecar');
  const toSourceTls = mkdtempSync(join(tmpdir(), 'bench-sidecar-tls-'));
  cpSync(join(sidecarDir, 'tls'), toSourceTls, { recursive: true });
  // Straight to the source: trust its CA, present no client certificate (the API server would check it against its own CA).
  writeFileSync(join(toSourceTls, 'ca.crt'), readFileSync(join(sidecarDir, 'cluster-ca.crt')));
  rmSync(join(toSourceTls, 'client.crt'), { force: true });
  rmSync(join(toSourceTls, 'client.key'), { force: true });
  const sidecarEnv = (tlsDir: string, upstream: string) => ({
    BRIDGE_UPSTREAM: upstream,
    BRIDGE_LOCAL_APISERVER: new URL(direct).host,
    BRIDGE_LOCAL_CA_FILE: join(sidecarDir, 'cluster-ca.crt'),
    BRIDGE_TLS_DIR: tlsDir,
  });
  await seed(api);

  const benchCa = await generateCa('bench-aggregator-ca');
  const loopback = await issueCertificate(benchCa, { commonName: 'loopback', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server' });
  const [nginxPort, outerPort, innerPort] = [await freePort(), await freePort(), await freePort()];
  const children = [
    startNginx(benchCa, loopback, new URL(direct).host, admin.caPem, nginxPort),
    startNginx(benchCa, loopback, new URL(direct).host, admin.caPem, innerPort),
    startNginx(benchCa, loopback, `127.0.0.1:${innerPort}`, benchCa.certPem, outerPort),
  ];
  process.once('exit', () => children.forEach((child) => child.kill('SIGKILL')));
  const aggregatorUrl = `https://127.0.0.1:${aggregator.port}`;
  const floor = await startFloor('https', loopback, direct, admin.caPem);
  children.push(floor.child);
  const undiciFloor = await startFloor('undici', loopback, direct, admin.caPem);
  children.push(undiciFloor.child);
  const alone = await startBenchSidecar(sidecarEnv(toSourceTls, direct), false);
  const viaAggregator = await startBenchSidecar(sidecarEnv(join(sidecarDir, 'tls'), aggregatorUrl), false);
  const localRouting = await startBenchSidecar(sidecarEnv(join(sidecarDir, 'tls'), aggregatorUrl), true);
  children.push(alone.child, viaAggregator.child, localRouting.child);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(1));
  try {
    await sleep(500);
    const nginxPids = (child: ChildProcess) => [child.pid!, ...childPids(child.pid!)];
    const directPid = lab.clusters.source.daemons.find((d) => d.name === 'kube-apiserver')?.pid;
    const targets: Target[] = [
      { name: 'direct', base: direct, caPem: admin.caPem, pids: directPid ? [directPid] : [], token },
      { name: 'nginx', base: `https://127.0.0.1:${nginxPort}`, caPem: benchCa.certPem, pids: nginxPids(children[0]!), token },
      { name: 'node floor', base: `https://127.0.0.1:${floor.port}`, caPem: benchCa.certPem, pids: [floor.child.pid!], token },
      { name: 'undici floor', base: `https://127.0.0.1:${undiciFloor.port}`, caPem: benchCa.certPem, pids: [undiciFloor.child.pid!], token },
      { name: 'aggregator', base: `https://127.0.0.1:${aggregator.port}`, caPem: bridgeCaPem, pids: [aggregator.pid], token },
      {
        name: 'nginx+nginx',
        base: `https://127.0.0.1:${outerPort}`,
        caPem: benchCa.certPem,
        pids: [...nginxPids(children[1]!), ...nginxPids(children[2]!)],
        token,
      },
      { name: 'sidecar', base: `https://127.0.0.1:${alone.port}`, caPem: workloadCa, pids: [alone.child.pid!], token },
      {
        name: 'sidecar+aggregator',
        base: `https://127.0.0.1:${viaAggregator.port}`,
        caPem: workloadCa,
        pids: [viaAggregator.child.pid!, aggregator.pid],
        token,
      },
      // The sidecar's own CPU, like `sidecar`'s; that nothing reached the aggregator is shown by its choices below.
      { name: 'sidecar local-route', base: `https://127.0.0.1:${localRouting.port}`, caPem: workloadCa, pids: [localRouting.child.pid!], token },
    ];
    const small = `/api/v1/namespaces/${LAB_APPS_NAMESPACE}/configmaps/${PREFIX}1`;
    const list = `/api/v1/namespaces/${LAB_APPS_NAMESPACE}/configmaps?labelSelector=bench%3Daggregator`;
    for (const t of targets) await call(t, new Agent(), small); // every path answers 200 before anything is timed
    for (const t of targets) await throughput(t, small, 4, 1); // warm-up: pools, TLS sessions, JIT

    const out = (line: string) => process.stdout.write(`${line}\n`);
    const loadAverage = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    out(`aggregator benchmark against kube-apiserver ${lab.kubernetesVersion} (one run; 2 shared cores; load average before: ${loadAverage})`);
    const runtimeBefore = await runtimeMetrics(aggregator.opsPort);
    const rate = await interleavedRate(targets, small, 500, 2, 4, 2);
    const runtimeAfter = await runtimeMetrics(aggregator.opsPort);
    out('\nsmall GET at 500 req/s, open loop, a new client per target: 2 s cold, then 8 s steady in 2 s turns; latency ms');
    for (const t of targets) out(rateLine(t.name, rate[t.name]!, rate.direct!));
    out(
      `  the aggregator's runtime: heap used ${fmt(runtimeAfter.heapUsedMb, 1)} MB, resident ${fmt(runtimeAfter.residentMb, 1)} MB;` +
        ` GC pauses during the 500 req/s runs (all targets' turns): ${gcBetween(runtimeBefore, runtimeAfter)}`,
    );

    out('\nthroughput (closed loop)');
    const rps: Record<string, Record<string, number>> = {};
    for (const [label, path, concurrency] of [
      ['small GET, 16 clients', small, 16],
      [`LIST ${OBJECTS} ConfigMaps, 4 clients`, list, 4],
    ] as const) {
      rps[label] = {};
      out(`  ${label}:`);
      for (const t of targets) {
        const r = await throughput(t, path, concurrency, 5);
        rps[label]![t.name] = r.rps;
        out(`    ${t.name.padEnd(19)} ${fmt(r.rps, 0)} req/s  ${fmt(r.mbps, 1)} MB/s  CPU ${fmt(r.cpuCores, 2)} cores`);
      }
    }
    const smallRps = rps['small GET, 16 clients']!;
    const hop = (name: string, base: string) => ({ p50: rate[name]!.p50 - rate[base]!.p50, p99: rate[name]!.p99 - rate[base]!.p99 });
    const aggregatorHop = hop('sidecar+aggregator', 'direct');
    const nginxHops = hop('nginx+nginx', 'direct');
    out('\ntargets (issue 7): the aggregator hop at 500 req/s, beside nginx in this run');
    out(
      `  aggregator alone adds    p50 ${fmt(hop('aggregator', 'direct').p50, 3)} ms (target < 0.5)  p99 ${fmt(hop('aggregator', 'direct').p99, 3)} ms (target < 2)`,
    );
    out(`  nginx alone adds         p50 ${fmt(hop('nginx', 'direct').p50, 3)} ms  p99 ${fmt(hop('nginx', 'direct').p99, 3)} ms`);
    for (const name of ['node floor', 'undici floor']) {
      out(`  ${`${name} adds`.padEnd(24)} p50 ${fmt(hop(name, 'direct').p50, 3)} ms  p99 ${fmt(hop(name, 'direct').p99, 3)} ms`);
    }
    out(
      `  sidecar+aggregator adds  p50 ${fmt(aggregatorHop.p50, 3)} ms  p99 ${fmt(aggregatorHop.p99, 3)} ms;  nginx+nginx adds p50 ${fmt(nginxHops.p50, 3)}  p99 ${fmt(nginxHops.p99, 3)}`,
    );
    out(
      `  small-GET throughput: aggregator x nginx ${fmt(smallRps.aggregator! / smallRps.nginx!)}, sidecar+aggregator x nginx+nginx ${fmt(smallRps['sidecar+aggregator']! / smallRps['nginx+nginx']!)}`,
    );
    const cpu = (name: string) => rate[name]!.cpuMsPerRequest;
    out(
      `  CPU per request: aggregator ${fmt(cpu('aggregator'), 3)} ms, node floor ${fmt(cpu('node floor'), 3)} ms,` +
        ` undici floor ${fmt(cpu('undici floor'), 3)} ms, nginx ${fmt(cpu('nginx'), 3)} ms`,
    );
    out(
      `  the node floor's share of the aggregator's cost: added p50 ${fmt(hop('node floor', 'direct').p50 / hop('aggregator', 'direct').p50)},` +
        ` CPU per request ${fmt(cpu('node floor') / cpu('aggregator'))};  small-GET throughput: aggregator x node floor ${fmt(smallRps.aggregator! / smallRps['node floor']!)}`,
    );

    const local = rate['sidecar local-route']!;
    const sidecarAlone = rate.sidecar!;
    const localHop = hop('sidecar local-route', 'direct');
    const aloneHop = hop('sidecar', 'direct');
    const nginxHop = hop('nginx', 'direct');
    out('\nlocal routing (issue 7): a source-owned small GET must cost no more than the sidecar alone');
    out(
      `  added p50: local-route ${fmt(localHop.p50, 3)} ms, sidecar alone ${fmt(aloneHop.p50, 3)} ms, nginx ${fmt(nginxHop.p50, 3)} ms;` +
        `  local-route x sidecar ${fmt(localHop.p50 / aloneHop.p50)}, x nginx ${fmt(localHop.p50 / nginxHop.p50)}`,
    );
    out(
      `  added p99: local-route ${fmt(localHop.p99, 3)} ms, sidecar alone ${fmt(aloneHop.p99, 3)} ms, nginx ${fmt(nginxHop.p99, 3)} ms;` +
        `  local-route x sidecar ${fmt(localHop.p99 / aloneHop.p99)}, x nginx ${fmt(localHop.p99 / nginxHop.p99)}`,
    );
    out(
      `  CPU per request: local-route ${fmt(local.cpuMsPerRequest, 3)} ms, sidecar alone ${fmt(sidecarAlone.cpuMsPerRequest, 3)} ms,` +
        ` nginx ${fmt(rate.nginx!.cpuMsPerRequest, 3)} ms, sidecar+aggregator ${fmt(rate['sidecar+aggregator']!.cpuMsPerRequest, 3)} ms;` +
        `  local-route x sidecar ${fmt(local.cpuMsPerRequest / sidecarAlone.cpuMsPerRequest)}, x nginx ${fmt(local.cpuMsPerRequest / rate.nginx!.cpuMsPerRequest)}`,
    );
    out(
      `  small-GET throughput: local-route x sidecar ${fmt(smallRps['sidecar local-route']! / smallRps.sidecar!)}, x nginx ${fmt(smallRps['sidecar local-route']! / smallRps.nginx!)},` +
        ` x sidecar+aggregator ${fmt(smallRps['sidecar local-route']! / smallRps['sidecar+aggregator']!)}`,
    );
    out(`  the local-route sidecar's choices (upstream/reason: requests): ${JSON.stringify(await choices(localRouting.opsPort))}`);
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await api.request('DELETE', `/api/v1/namespaces/${LAB_APPS_NAMESPACE}/configmaps?labelSelector=bench%3Daggregator`).catch(() => undefined);
    api.close();
  }
}

await main();
