/** Generic benchmark helpers shared by every bench/ script: percentiles, process CPU and memory from /proc. */
import { readFileSync } from 'node:fs';

/** Nearest-rank percentile of an unsorted sample (p in 0..100). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after the command: state is [0], utime [11], stime [12], in clock ticks (100 Hz on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export interface MemorySample {
  rssMb: number;
  /** Private anonymous memory: what each extra copy of the process costs (shared binary pages excluded). */
  anonMb: number;
}

export function memory(pid: number): MemorySample {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rssMb: kb('Rss') / 1024, anonMb: kb('Anonymous') / 1024 };
}

/** Sums samples over several processes (nginx master + workers). */
export function memoryOf(pids: readonly number[]): MemorySample {
  return pids.map(memory).reduce((a, b) => ({ rssMb: a.rssMb + b.rssMb, anonMb: a.anonMb + b.anonMb }), { rssMb: 0, anonMb: 0 });
}

export function cpuOf(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

export const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
