/**
 * E2E fixture for the client-go suite in test/go-clients/: builds it once per process (Go's build and
 * module caches live outside the repo), runs its checks, and runs its leader election as a child
 * that streams renewals. Each check is a JSON line {name, ok, detail}.
 */
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { archive } from '../../lab/node/images.js';
import { repoRoot } from '../../lib/process/paths.js';
import { run } from './lab-clients.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

const MODULE_DIR = join(repoRoot(), 'test', 'go-clients');

/** `go` on PATH, else the usual install location (CI puts it on PATH the same way). */
function goCommand(): string {
  return existsSync('/usr/local/go/bin/go') && !process.env.PATH?.split(':').some((dir) => existsSync(join(dir, 'go'))) ? '/usr/local/go/bin/go' : 'go';
}

let built: Promise<string> | undefined;

/** The suite's binary, built once per process with -mod=readonly (go.sum must be complete: no vendor dir, no network guessing). */
export function buildGoClients(): Promise<string> {
  built ??= (async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'go-clients-')), 'go-clients');
    const result = await run(goCommand(), ['build', '-mod=readonly', '-trimpath', '-o', out, '.'], {
      cwd: MODULE_DIR,
      env: { ...process.env, GOFLAGS: '-buildvcs=false' },
    });
    if (result.code !== 0) throw new Error(`go build of test/go-clients failed (${result.code}): ${result.stderr.trim()}`);
    return out;
  })();
  return built;
}

export function parseResults(stdout: string): CheckResult[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as CheckResult)
    .filter((r) => typeof r.name === 'string' && typeof r.ok === 'boolean');
}

export interface SuiteRun {
  kubeconfig: string;
  namespace: string;
  anchorNamespace: string;
  identityFile: string;
  churn: boolean;
}

/** Runs the suite; one that has not ended after `timeoutMs` is killed and reported with what it printed so far and a failing `suite/finished`. */
export async function runGoSuite(binary: string, options: SuiteRun, timeoutMs = 200_000): Promise<CheckResult[]> {
  const args = ['suite', '--kubeconfig', options.kubeconfig, '--namespace', options.namespace];
  args.push('--anchor-namespace', options.anchorNamespace, '--identity-file', options.identityFile);
  if (options.churn) args.push('--churn');
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
  clearTimeout(timer);
  const results = parseResults(stdout);
  if (code !== 0) results.push({ name: 'suite/finished', ok: false, detail: `exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}` });
  return results;
}

/** name -> 'ok' or 'failed: detail', for comparing two runs check by check with the reason in the diff. */
export function outcome(results: readonly CheckResult[]): Record<string, string> {
  return Object.fromEntries(results.map((r) => [r.name, r.ok ? 'ok' : `failed: ${r.detail}`]));
}

export interface GoLeader {
  /** Millisecond timestamps of the leader's successful Lease writes so far. */
  renewals: number[];
  leading: Promise<boolean>;
  /** Closes its stdin: it releases the Lease and prints its results. */
  stop(): Promise<CheckResult[]>;
}

/** A leader and a contender on one Lease (`go-clients leader`), until stop(). */
export function startGoLeader(binary: string, kubeconfig: string, namespace: string, lease: string): GoLeader {
  const child = spawn(binary, ['leader', '--kubeconfig', kubeconfig, '--namespace', namespace, '--lease', lease], { stdio: ['pipe', 'pipe', 'pipe'] });
  const renewals: number[] = [];
  const results: CheckResult[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  let onLeading: (ok: boolean) => void = () => undefined;
  const leading = new Promise<boolean>((resolve) => (onLeading = resolve));
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    const parsed = JSON.parse(line) as { event?: string; at?: number; ok?: boolean } & Partial<CheckResult>;
    if (parsed.event === 'renewed') renewals.push(parsed.at!);
    else if (parsed.event === 'leading') onLeading(parsed.ok === true);
    else if (parsed.name) results.push(parsed as CheckResult);
  });
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  void exited.then(() => onLeading(false));
  return {
    renewals,
    leading,
    async stop() {
      child.stdin.end();
      const code = await exited;
      if (code !== 0 || results.length === 0) throw new Error(`go-clients leader exited ${code}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`);
      return results;
    },
  };
}

/** The suite as a workload image: its binary built static (CGO off, no libc in the image) in a single layer, entrypoint the binary. */
export async function buildGoClientsImage(dir: string, name: string): Promise<string> {
  const out = join(dir, 'go-clients-image.tar');
  const binary = join(dir, 'go-clients');
  const result = await run(goCommand(), ['build', '-mod=readonly', '-trimpath', '-o', binary, '.'], {
    cwd: MODULE_DIR,
    env: { ...process.env, GOFLAGS: '-buildvcs=false', CGO_ENABLED: '0' },
  });
  if (result.code !== 0) throw new Error(`static go build of test/go-clients failed (${result.code}): ${result.stderr.trim()}`);
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'tmp'), { recursive: true });
  chmodSync(join(rootfs, 'tmp'), 0o1777);
  copyFileSync(binary, join(rootfs, 'go-clients'));
  chmodSync(join(rootfs, 'go-clients'), 0o755);
  mkdirSync(join(dir, 'work'));
  await archive(join(dir, 'work'), rootfs, name, { Entrypoint: ['/go-clients'] }, out);
  return out;
}

/** One line of `go-clients informer` (test/go-clients/informer.go). */
export interface GoInformerLine {
  event: 'list' | 'watch' | 'stream' | 'synced' | 'add' | 'update' | 'delete' | 'cache';
  stream?: number;
  type?: string;
  namespace?: string;
  name?: string;
  rv?: string;
  initial?: boolean;
  /** For list: a later page (a continue token), part of the list before it. */
  page?: boolean;
  /** For add, update, delete: the ConfigMap's data.i. */
  i?: string;
  error?: string;
  items?: { namespace: string; name: string; rv: string; data?: Record<string, string> }[];
}

export interface GoInformer {
  /** Every line so far, in order. */
  lines: GoInformerLine[];
  synced: Promise<boolean>;
  /** Closes its stdin: it prints its cache (the last line) and exits. */
  stop(): Promise<GoInformerLine[]>;
}

/** A client-go SharedIndexInformer on the ConfigMaps of all namespaces matching `selector` (`go-clients informer`), until stop(). */
export function startGoInformer(binary: string, kubeconfig: string, selector: string): GoInformer {
  const child = spawn(binary, ['informer', '--kubeconfig', kubeconfig, '--selector', selector], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: GoInformerLine[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  let onSynced: (ok: boolean) => void = () => undefined;
  const synced = new Promise<boolean>((resolve) => (onSynced = resolve));
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    const parsed = JSON.parse(line) as GoInformerLine;
    lines.push(parsed);
    if (parsed.event === 'synced') onSynced(true);
  });
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  void exited.then(() => onSynced(false));
  return {
    lines,
    synced,
    async stop() {
      child.stdin.end();
      const code = await exited;
      if (code !== 0 || lines.at(-1)?.event !== 'cache')
        throw new Error(`go-clients informer exited ${code}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`);
      return lines;
    },
  };
}
