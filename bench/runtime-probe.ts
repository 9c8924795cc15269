/**
 * Loaded into a benchmarked Node process with `--import` (never into the product): on SIGUSR2 it writes
 * what the process's own runtime saw since the last signal (event-loop delay, GC pauses, event-loop
 * utilization) to BENCH_PROBE_FILE as JSON, then starts counting afresh. The benchmark reads it to tell
 * where a proxy's latency tail comes from.
 */
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';

/** The probe's timer period; the loop delays it reports are beyond this. */
export const PROBE_RESOLUTION_MS = 5;

export interface RuntimeSample {
  /** How late a 5 ms timer fired beyond its period, ms: time the event loop was busy with something else. */
  loopDelayP50Ms: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  gcCount: number;
  gcTotalMs: number;
  gcMaxMs: number;
  /** Share of wall time the event loop was running JavaScript or native callbacks (0..1). */
  loopUtilization: number;
}

const file = process.env.BENCH_PROBE_FILE;
if (file) {
  const delay = monitorEventLoopDelay({ resolution: PROBE_RESOLUTION_MS });
  delay.enable();
  let gc = { count: 0, totalMs: 0, maxMs: 0 };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gc.count++;
      gc.totalMs += entry.duration;
      gc.maxMs = Math.max(gc.maxMs, entry.duration);
    }
  }).observe({ entryTypes: ['gc'] });
  let utilization = performance.eventLoopUtilization();
  process.on('SIGUSR2', () => {
    const ms = (ns: number) => Math.max(0, ns / 1e6 - PROBE_RESOLUTION_MS);
    const sample: RuntimeSample = {
      loopDelayP50Ms: ms(delay.percentile(50)),
      loopDelayP99Ms: ms(delay.percentile(99)),
      loopDelayMaxMs: ms(delay.max),
      gcCount: gc.count,
      gcTotalMs: gc.totalMs,
      gcMaxMs: gc.maxMs,
      loopUtilization: performance.eventLoopUtilization(utilization).utilization,
    };
    writeFileSync(file, JSON.stringify(sample));
    delay.reset();
    gc = { count: 0, totalMs: 0, maxMs: 0 };
    utilization = performance.eventLoopUtilization();
  });
}
