/**
 * The lab's own lifecycle and failure messages, through the real `bridgectl` binary. Uses a private lab
 * folder so the shared lab other suites use keeps running.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isPortBound } from '../../lab/ports.js';
import { waitUntil } from '../../lib/wait-until.js';
import { isProcessRunning, run } from '../helpers/lab-clients.js';

const NODE = process.execPath;
const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');
const privateLab = mkdtempSync(join(tmpdir(), 'bridge-lab-'));

function bridgectl(args: string[], env: NodeJS.ProcessEnv = {}) {
  return run(NODE, [CLI, ...args], { env: { ...process.env, BRIDGE_LAB_DIR: privateLab, ...env } });
}

function expectOneClearLine(stderr: string, code: string) {
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^error: ${code}: .+\\(fix: .+\\)$`));
  expect(stderr).not.toMatch(/\n\s+at /);
}

interface State {
  clusters: Record<string, { daemons: { pid: number; ports: number[] }[] }>;
}

afterAll(async () => {
  await bridgectl(['lab', 'down', '--purge']);
  rmSync(privateLab, { recursive: true, force: true });
});

describe('bridgectl lab lifecycle', () => {
  it('starts, is idempotent on a second up, and leaves no process or port behind on down', async () => {
    const first = await bridgectl(['lab', 'up']);
    expect(first.stderr).toContain('lab up in');
    expect(first.code).toBe(0);
    const state = JSON.parse(readFileSync(join(privateLab, 'state.json'), 'utf8')) as State;
    const daemons = Object.values(state.clusters).flatMap((c) => c.daemons);
    expect(daemons).toHaveLength(10);
    expect(daemons.every((d) => isProcessRunning(d.pid))).toBe(true);

    const second = await bridgectl(['lab', 'up']);
    expect(second.code).toBe(0);
    expect(second.stderr).toContain('lab already running');
    const again = JSON.parse(readFileSync(join(privateLab, 'state.json'), 'utf8')) as State;
    expect(Object.values(again.clusters).flatMap((c) => c.daemons.map((d) => d.pid))).toEqual(daemons.map((d) => d.pid));

    const status = await bridgectl(['lab', 'status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/source\s+ready/);
    expect(status.stdout).toMatch(/destination\s+ready/);

    const down = await bridgectl(['lab', 'down']);
    expect(down.code).toBe(0);
    expect(down.stderr).toContain('stopped 10 processes');
    expect(daemons.filter((d) => isProcessRunning(d.pid))).toEqual([]);
    const ports = daemons.flatMap((d) => d.ports);
    const bound = (await Promise.all(ports.map(async (p) => ((await isPortBound(p)) ? p : undefined)))).filter(Boolean);
    expect(bound).toEqual([]);

    const afterDown = await bridgectl(['lab', 'status']);
    expect(afterDown.code).toBe(1);
    expect(afterDown.stdout).toContain('not running');
  });

  it('finds and stops every process of a `lab up` that was killed half-way', async () => {
    const up = spawn(NODE, [CLI, 'lab', 'up'], { env: { ...process.env, BRIDGE_LAB_DIR: privateLab }, stdio: 'ignore' });
    const starting = join(privateLab, 'starting.json');
    const started = () => (existsSync(starting) ? (JSON.parse(readFileSync(starting, 'utf8')) as { name: string; pid: number }[]) : []);
    // Killed once a few processes run and before the lab is complete (state.json is written last).
    await waitUntil('lab up to have started some processes', () => started().length >= 3, { intervalMs: 20 });
    up.kill('SIGKILL');
    await once(up, 'exit');
    const orphans = started();
    expect(orphans.filter((d) => isProcessRunning(d.pid)).length).toBeGreaterThanOrEqual(3);

    const down = await bridgectl(['lab', 'down']);
    expect(down.code).toBe(0);
    expect(orphans.filter((d) => isProcessRunning(d.pid))).toEqual([]);
    expect(existsSync(starting)).toBe(false);
  });

  it('names a port that is already taken, with the fix, in one line', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const result = await bridgectl(['lab', 'up', '--source-port', String(port)]);
      expect(result.code).toBe(1);
      expectOneClearLine(result.stderr, 'BRIDGE_ERR_LAB_PORT_IN_USE');
      expect(result.stderr).toContain(`port ${port}`);
    } finally {
      blocker.close();
    }
  });

  it('says Go is missing when binaries must be built and go is not on PATH', async () => {
    const emptyCache = mkdtempSync(join(tmpdir(), 'bridge-cache-'));
    try {
      const result = await bridgectl(['lab', 'up'], { BRIDGE_CACHE_DIR: emptyCache, PATH: '/usr/bin:/bin' });
      expect(result.code).toBe(1);
      expectOneClearLine(result.stderr, 'BRIDGE_ERR_GO_MISSING');
      expect(result.stderr).toContain('install Go');
    } finally {
      rmSync(emptyCache, { recursive: true, force: true });
    }
  });

  it('reports a failed build in one line naming the log', async () => {
    const emptyCache = mkdtempSync(join(tmpdir(), 'bridge-cache-'));
    try {
      const result = await bridgectl(['lab', 'build', '--k8s-version', 'v1.99.0'], { BRIDGE_CACHE_DIR: emptyCache });
      expect(result.code).toBe(1);
      expectOneClearLine(
        result.stderr
          .split('\n')
          .filter((l) => l.startsWith('error:'))
          .join('\n'),
        'BRIDGE_ERR_LAB_BUILD_FAILED',
      );
      expect(result.stderr).toContain('build.log');
      expect(readFileSync(join(emptyCache, 'build.log'), 'utf8')).toContain('v1.99.0');
    } finally {
      rmSync(emptyCache, { recursive: true, force: true });
    }
  });

  it('rejects bad flags with a usage error', async () => {
    const result = await bridgectl(['lab', 'up', '--source-port', 'abc']);
    expect(result.code).toBe(1);
    expectOneClearLine(result.stderr, 'BRIDGE_ERR_USAGE');
    const unknown = await bridgectl(['lab', 'up', '--bogus']);
    expectOneClearLine(unknown.stderr, 'BRIDGE_ERR_USAGE');
  });
});
