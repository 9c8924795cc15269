/**
 * Aggregator benchmark (not a test): what the aggregator hop adds to an API call, side by side in one
 * run with nginx doing the same hops. Uses the lab's installed bridge (`bridgectl lab up`, `bridgectl
 * lab install`) and Debian's `nginx`:
 *   direct               the source API server
 *   nginx                one TLS reverse-proxy hop to it
 *   aggregator           the lab's aggregator, called directly with the workload's token (one hop)
 *   nginx+nginx          two nginx hops
 *   sidecar+aggregator   the lab's sidecar, whose upstream is the aggregator: a pod's call (two hops)
 * The requests read a shard the source owns (configmaps in lab-apps): the aggregator routes it and
 * pipes the answer untouched, its common case before and during a rollout.
 *
 *   npm run bench:aggregator
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { LAB_APPS_NAMESPACE } from '../lab/install-context.js';
import { readInstalledDaemons } from '../lab/install.js';
import { adminCredentials, requireLab } from '../lab/lab-files.js';
import { BridgeError } from '../lib/errors.js';
import { KubeRestClient } from '../lib/kube-rest-client.js';
import { labDir } from '../lib/paths.js';
import { generateCa, issueCertificate, type CertificateAndKey } from '../lib/pki.js';
import { freePort } from '../lib/ports.js';
import { call, interleavedRate, throughput, type RateResult, type Target } from './load.js';
import { childPids, nginxConfig, requireNginx } from './nginx.js';
import { fmt } from './stats.js';

const OBJECTS = 200;
const PREFIX = 'bench-aggregator-';

/** The workload's token and the CA bundle of its kubeconfig (the sidecar's and the aggregator's serving certificates). */
function workloadCredentials(): { token: string; caPem: string } {
  const kc = new KubeConfig();
  kc.loadFromFile(join(labDir(), 'workload.kubeconfig'));
  const token = kc.getCurrentUser()?.token;
  const caData = kc.getCurrentCluster()?.caData;
  if (!token || !caData)
    throw new BridgeError('BRIDGE_ERR_CONFIG', 'the lab workload kubeconfig has no token or CA', { fix: 'run `bridgectl lab install --replace`' });
  return { token, caPem: Buffer.from(caData, 'base64').toString() };
}

function installed(name: string): { pid: number; port: number } {
  const daemon = readInstalledDaemons().find((d) => d.name === name);
  if (!daemon) throw new BridgeError('BRIDGE_ERR_CONFIG', `the lab has no ${name} installed`, { fix: 'run `bridgectl lab install`' });
  return { pid: daemon.pid, port: daemon.ports[0]! };
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
  const sidecar = installed('sidecar');
  const bridgeCaPem = readFileSync(join(labDir(), 'install', 'bridge-ca.crt'), 'utf8');
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
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(1));
  try {
    await sleep(500);
    const nginxPids = (child: ChildProcess) => [child.pid!, ...childPids(child.pid!)];
    const directPid = lab.clusters.source.daemons.find((d) => d.name === 'kube-apiserver')?.pid;
    const targets: Target[] = [
      { name: 'direct', base: direct, caPem: admin.caPem, pids: directPid ? [directPid] : [], token },
      { name: 'nginx', base: `https://127.0.0.1:${nginxPort}`, caPem: benchCa.certPem, pids: nginxPids(children[0]!), token },
      { name: 'aggregator', base: `https://127.0.0.1:${aggregator.port}`, caPem: bridgeCaPem, pids: [aggregator.pid], token },
      {
        name: 'nginx+nginx',
        base: `https://127.0.0.1:${outerPort}`,
        caPem: benchCa.certPem,
        pids: [...nginxPids(children[1]!), ...nginxPids(children[2]!)],
        token,
      },
      { name: 'sidecar+aggregator', base: `https://127.0.0.1:${sidecar.port}`, caPem: workloadCa, pids: [sidecar.pid, aggregator.pid], token },
    ];
    const small = `/api/v1/namespaces/${LAB_APPS_NAMESPACE}/configmaps/${PREFIX}1`;
    const list = `/api/v1/namespaces/${LAB_APPS_NAMESPACE}/configmaps?labelSelector=bench%3Daggregator`;
    for (const t of targets) await call(t, new Agent(), small); // every path answers 200 before anything is timed
    for (const t of targets) await throughput(t, small, 4, 1); // warm-up: pools, TLS sessions, JIT

    const out = (line: string) => process.stdout.write(`${line}\n`);
    const loadAverage = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    out(`aggregator benchmark against kube-apiserver ${lab.kubernetesVersion} (one run; 2 shared cores; load average before: ${loadAverage})`);
    const rate = await interleavedRate(targets, small, 500, 2, 4, 2);
    out('\nsmall GET at 500 req/s, open loop, a new client per target: 2 s cold, then 8 s steady in 2 s turns; latency ms');
    for (const t of targets) out(rateLine(t.name, rate[t.name]!, rate.direct!));

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
    out(
      `  sidecar+aggregator adds  p50 ${fmt(aggregatorHop.p50, 3)} ms  p99 ${fmt(aggregatorHop.p99, 3)} ms;  nginx+nginx adds p50 ${fmt(nginxHops.p50, 3)}  p99 ${fmt(nginxHops.p99, 3)}`,
    );
    out(
      `  small-GET throughput: aggregator x nginx ${fmt(smallRps.aggregator! / smallRps.nginx!)}, sidecar+aggregator x nginx+nginx ${fmt(smallRps['sidecar+aggregator']! / smallRps['nginx+nginx']!)}`,
    );
    out(`  CPU per request: aggregator ${fmt(rate.aggregator!.cpuMsPerRequest, 3)} ms, nginx ${fmt(rate.nginx!.cpuMsPerRequest, 3)} ms`);
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await api.request('DELETE', `/api/v1/namespaces/${LAB_APPS_NAMESPACE}/configmaps?labelSelector=bench%3Daggregator`).catch(() => undefined);
    api.close();
  }
}

await main();
