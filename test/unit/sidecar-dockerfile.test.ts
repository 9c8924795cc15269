/** No Docker engine in CI: check what Dockerfile.sidecar relies on, and that its entrypoint command runs. */
import { describe, expect, it } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../lib/paths.js';

const root = repoRoot();
const dockerfile = readFileSync(join(root, 'Dockerfile.sidecar'), 'utf8');
const lines = dockerfile.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
const node = join(root, 'node_modules', '.bin', 'node');

describe('Dockerfile.sidecar', () => {
  it('builds on Node 24 and runs on the distroless Node 24 LTS image as non-root', () => {
    const bases = lines.filter((l) => l.startsWith('FROM ')).map((l) => l.split(/\s+/)[1]);
    expect(bases[0]).toMatch(/^node:24-bookworm/);
    expect(bases.at(-1)).toBe('gcr.io/distroless/nodejs24-debian12:nonroot');
    expect(lines.filter((l) => l.startsWith('USER ')).at(-1)).toBe('USER 65532:65532');
  });

  it('copies only files that exist, and every folder tsconfig compiles', () => {
    const sources = lines.filter((l) => l.startsWith('COPY ') && !l.includes('--from=')).flatMap((l) => l.split(/\s+/).slice(1, -1));
    for (const source of sources) expect([source, existsSync(join(root, source))]).toEqual([source, true]);
    const tsconfig = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')) as { include: string[] };
    for (const folder of tsconfig.include) expect(dockerfile).toContain(`COPY ${folder} ./${folder}`);
  });

  it('ships production dependencies only', () => {
    expect(dockerfile).toMatch(/npm prune --omit=dev/);
    expect(dockerfile).toMatch(/ENV NODE_ENV=production/);
  });

  it('has an entrypoint that runs the lean sidecar entry (a clear config error without env, a usage error on a bad flag)', () => {
    const entrypoint = JSON.parse(lines.find((l) => l.startsWith('ENTRYPOINT '))!.slice('ENTRYPOINT '.length)) as string[];
    const cmd = JSON.parse(lines.find((l) => l.startsWith('CMD '))!.slice('CMD '.length)) as string[];
    expect(entrypoint[0]).toBe('/nodejs/bin/node');
    expect(entrypoint.at(-1)).toBe('dist/sidecar/main.js');
    expect(existsSync(join(root, 'dist', 'sidecar', 'main.js'))).toBe(true);
    const env = { PATH: process.env.PATH ?? '', NODE_ENV: 'production' };
    const bare = spawnSync(node, [...entrypoint.slice(1), ...cmd], { cwd: root, encoding: 'utf8', env });
    expect(bare.stderr).toContain('BRIDGE_ERR_CONFIG: BRIDGE_UPSTREAM is required');
    expect(bare.status).toBe(1);
    const badFlag = spawnSync(node, [...entrypoint.slice(1), '--no-such-flag'], { cwd: root, encoding: 'utf8', env });
    expect(badFlag.stderr).toContain('BRIDGE_ERR_USAGE');
    // The same code behind the CLI.
    expect(execFileSync(node, ['dist/cli/main.js', 'sidecar', 'serve', '--help'], { cwd: root, encoding: 'utf8' })).toContain('sidecar serve');
  });
});
