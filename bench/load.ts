/**
 * The benchmarks' load generator: open-loop rates with interleaved turns per target (so a noisy moment
 * of the shared machine falls on every target alike), closed-loop throughput, and the CPU and runtime
 * samples of the processes behind each target.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { waitUntil } from '../lib/wait-until.js';
import { PROBE_RESOLUTION_MS, type RuntimeSample } from './runtime-probe.js';
import { cpuOf, percentile } from './stats.js';

export interface Target {
  name: string;
  base: string;
  caPem: string;
  pids: number[];
  /** Node processes started with bench/runtime-probe.ts: where their runtime state is written on SIGUSR2. */
  probeFile?: string;
  /** The bearer token every request carries. */
  token: string;
}

export interface CallResult {
  ms: number;
  bytes: number;
  /** False when the request had to open (and handshake) a new connection. */
  reused: boolean;
}

export function call(target: Target, agent: Agent, path: string): Promise<CallResult> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(
      `${target.base}${path}`,
      { agent, ca: target.caPem, headers: { authorization: `Bearer ${target.token}`, accept: 'application/json' } },
      (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`${target.name}: HTTP ${res.statusCode} for ${path}`));
          else resolve({ ms: Number(process.hrtime.bigint() - start) / 1e6, bytes, reused: req.reusedSocket });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Signals a probed process and reads what its runtime saw since the last signal. */
async function readProbe(target: Target): Promise<RuntimeSample | undefined> {
  if (!target.probeFile) return undefined;
  rmSync(target.probeFile, { force: true });
  process.kill(target.pids[0]!, 'SIGUSR2');
  await waitUntil(`${target.name}'s runtime probe`, () => existsSync(target.probeFile!), { timeoutMs: 5000, intervalMs: 10 });
  await sleep(20); // the file is written in one call; give it time to land whole
  return JSON.parse(readFileSync(target.probeFile, 'utf8')) as RuntimeSample;
}

export interface RateResult {
  /** The first seconds of a new client: its connections are opened (TLS handshakes) meanwhile. */
  cold: { p50: number; p99: number; newConnections: number };
  /** Steady state after the warm-up: what every later request sees. */
  p50: number;
  p99: number;
  cpuMsPerRequest: number;
  newConnections: number;
  /** The load generator's own event-loop delay p99 while this target ran: a slow generator slows every target. */
  generatorDelayP99Ms: number;
  /** The worst slice's runtime sample of a probed proxy (GC summed over the slices). */
  runtime?: RuntimeSample;
}

/** Open loop: one request every 1000/rate ms regardless of answers, as independent clients would. */
async function openLoop(target: Target, agent: Agent, path: string, rate: number, seconds: number, onTick?: () => void): Promise<CallResult[]> {
  const results: CallResult[] = [];
  const pending: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < rate * seconds; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 1) await sleep(wait);
    if (i % Math.max(1, Math.floor(rate / 10)) === 0) onTick?.();
    pending.push(call(target, agent, path).then((r) => void results.push(r)));
  }
  await Promise.all(pending);
  return results;
}

function worstOf(a: RuntimeSample | undefined, b: RuntimeSample): RuntimeSample {
  if (!a) return b;
  return {
    loopDelayP50Ms: Math.max(a.loopDelayP50Ms, b.loopDelayP50Ms),
    loopDelayP99Ms: Math.max(a.loopDelayP99Ms, b.loopDelayP99Ms),
    loopDelayMaxMs: Math.max(a.loopDelayMaxMs, b.loopDelayMaxMs),
    gcCount: a.gcCount + b.gcCount,
    gcTotalMs: a.gcTotalMs + b.gcTotalMs,
    gcMaxMs: Math.max(a.gcMaxMs, b.gcMaxMs),
    loopUtilization: Math.max(a.loopUtilization, b.loopUtilization),
  };
}

/**
 * Every target gets a new client and `warmupSeconds` of cold start, then `rounds` slices of
 * `sliceSeconds` each, the targets taking turns (rotated each round), so that a noisy moment on the
 * shared machine falls on all of them alike rather than on whichever ran then.
 */
export async function interleavedRate(
  targets: Target[],
  path: string,
  rate: number,
  warmupSeconds: number,
  rounds: number,
  sliceSeconds: number,
  onTick?: (target: Target) => void,
): Promise<Record<string, RateResult>> {
  const state = new Map(
    targets.map((t) => [
      t.name,
      {
        agent: new Agent({ keepAlive: true, maxSockets: 256 }),
        cold: [] as CallResult[],
        steady: [] as CallResult[],
        cpu: 0,
        generator: monitorEventLoopDelay({ resolution: PROBE_RESOLUTION_MS }),
        runtime: undefined as RuntimeSample | undefined,
      },
    ]),
  );
  for (const t of targets) state.get(t.name)!.cold = await openLoop(t, state.get(t.name)!.agent, path, rate, warmupSeconds);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(k + round) % targets.length]!;
      const s = state.get(t.name)!;
      await readProbe(t); // resets its counters
      const cpu0 = cpuOf(t.pids);
      s.generator.enable();
      s.steady.push(...(await openLoop(t, s.agent, path, rate, sliceSeconds, () => onTick?.(t))));
      s.generator.disable();
      s.cpu += cpuOf(t.pids) - cpu0;
      const sample = await readProbe(t);
      if (sample) s.runtime = worstOf(s.runtime, sample);
    }
  }
  const ms = (results: CallResult[]) => results.map((r) => r.ms);
  const opened = (results: CallResult[]) => results.filter((r) => !r.reused).length;
  return Object.fromEntries(
    targets.map((t) => {
      const s = state.get(t.name)!;
      s.agent.destroy();
      const result: RateResult = {
        cold: { p50: percentile(ms(s.cold), 50), p99: percentile(ms(s.cold), 99), newConnections: opened(s.cold) },
        p50: percentile(ms(s.steady), 50),
        p99: percentile(ms(s.steady), 99),
        cpuMsPerRequest: (s.cpu * 1000) / s.steady.length,
        newConnections: opened(s.steady),
        generatorDelayP99Ms: s.generator.percentile(99) / 1e6 - PROBE_RESOLUTION_MS,
        runtime: s.runtime,
      };
      return [t.name, result];
    }),
  );
}

/** Closed loop: `concurrency` clients, each sending its next request as soon as the last one returns. */
export async function throughput(target: Target, path: string, concurrency: number, seconds: number) {
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
