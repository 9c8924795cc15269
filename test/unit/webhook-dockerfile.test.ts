/** No Docker engine in CI: check what Dockerfile.webhook relies on, and that its entrypoint command runs. */
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../lib/process/paths.js';

const root = repoRoot();
const dockerfile = readFileSync(join(root, 'Dockerfile.webhook'), 'utf8');
const lines = dockerfile
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

describe('Dockerfile.webhook', () => {
  it('is multi-stage on a maintained Node LTS base', () => {
    // As a user's `docker build` resolves it: an ARG's default stands for `${ARG}` (the lab passes its own bases).
    const argDefaults = new Map(lines.filter((l) => l.startsWith('ARG ') && l.includes('=')).map((l) => l.slice(4).split('=') as [string, string]));
    const bases = lines
      .filter((l) => l.startsWith('FROM '))
      .map((l) => l.split(/\s+/)[1]!.replace(/^\$\{(\w+)\}$/, (_, name: string) => argDefaults.get(name) ?? name));
    expect(bases.length).toBeGreaterThanOrEqual(2);
    for (const base of bases) expect(base).toMatch(/^node:24(-|$)/);
  });

  it('copies only files that exist in the build context', () => {
    const sources = lines.filter((l) => l.startsWith('COPY ') && !l.includes('--from=')).flatMap((l) => l.split(/\s+/).slice(1, -1));
    expect(sources.length).toBeGreaterThan(3);
    for (const source of sources) expect([source, existsSync(join(root, source))]).toEqual([source, true]);
  });

  it('copies and compiles exactly the product folders: tsconfig.build.json, without tests and benchmarks', () => {
    const build = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
    const copied = lines.filter((l) => /^COPY [a-z]+ \.\/[a-z]+$/.test(l)).map((l) => l.split(/\s+/)[1]);
    expect(new Set(copied)).toEqual(new Set(build.include));
    expect(build.include).not.toContain('test');
    expect(build.include).not.toContain('bench');
    expect(dockerfile).toContain('npx tsc -p tsconfig.build.json');
  });

  it('runs as a non-root user with production dependencies only', () => {
    const user = lines.filter((l) => l.startsWith('USER ')).at(-1);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/USER\s+(root|0)(:|$)/);
    expect(dockerfile).toMatch(/npm prune --omit=dev/);
    expect(dockerfile).toMatch(/ENV NODE_ENV=production/);
  });

  it('has an entrypoint that runs: node dist/cli/main.js webhook serve --help', () => {
    const entrypoint = JSON.parse(lines.find((l) => l.startsWith('ENTRYPOINT '))!.slice('ENTRYPOINT '.length)) as string[];
    const cmd = JSON.parse(lines.find((l) => l.startsWith('CMD '))!.slice('CMD '.length)) as string[];
    expect(entrypoint).toEqual(['node', 'dist/cli/main.js']);
    const out = execFileSync(join(root, 'node_modules', '.bin', 'node'), [entrypoint[1]!, ...cmd, '--help'], { cwd: root, encoding: 'utf8' });
    expect(out).toContain('webhook serve');
  });
});
