/** No Docker engine in CI: check what Dockerfile.sidecar relies on, and that its entrypoint command runs. */
import { describe, expect, it } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../lib/process/paths.js';

const root = repoRoot();
const dockerfile = readFileSync(join(root, 'Dockerfile.sidecar'), 'utf8');
const lines = dockerfile
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const node = join(root, 'node_modules', '.bin', 'node');
/** Each stage's base as a user's `docker build` resolves it: an ARG's default stands for `${ARG}`. */
const argDefaults = new Map(lines.filter((l) => l.startsWith('ARG ') && l.includes('=')).map((l) => l.slice(4).split('=') as [string, string]));
const bases = lines
  .filter((l) => l.startsWith('FROM '))
  .map((l) => l.split(/\s+/)[1]!.replace(/^\$\{(\w+)\}$/, (_, name: string) => argDefaults.get(name) ?? name));

describe('Dockerfile.sidecar', () => {
  it('builds on glibc (node_modules/.bin/node is a glibc binary) and runs on the official Node 24 alpine image as non-root, naming no registry host', () => {
    expect(bases).toEqual(['node:24-bookworm-slim', 'node:24-alpine']);
    expect(dockerfile).not.toMatch(/[a-z0-9-]+\.(io|com|org)\//);
    expect(lines.filter((l) => l.startsWith('USER ')).at(-1)).toBe('USER 65532:65532');
  });

  it('copies only files that exist, and every folder the build compiles (tsconfig.build.json)', () => {
    const sources = lines.filter((l) => l.startsWith('COPY ') && !l.includes('--from=')).flatMap((l) => l.split(/\s+/).slice(1, -1));
    for (const source of sources) expect([source, existsSync(join(root, source))]).toEqual([source, true]);
    const tsconfig = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
    for (const folder of tsconfig.include) expect(dockerfile).toContain(`COPY ${folder} ./${folder}`);
  });

  it('ships only the dependency-free sidecar bundle (no node_modules, no dev dependencies)', () => {
    const runtime = lines.slice(lines.findLastIndex((l) => l.startsWith('FROM ')));
    expect(runtime.filter((l) => l.startsWith('COPY '))).toEqual(['COPY --from=build /src/dist/sidecar.mjs ./dist/sidecar.mjs']);
    expect(dockerfile).toMatch(/RUN .*npm run -s build:sidecar/);
    expect(dockerfile).toMatch(/ENV NODE_ENV=production/);
  });

  it('has an entrypoint that runs the lean sidecar entry (a clear config error without env, a usage error on a bad flag)', () => {
    const entrypoint = JSON.parse(lines.find((l) => l.startsWith('ENTRYPOINT '))!.slice('ENTRYPOINT '.length)) as string[];
    const cmd = JSON.parse(lines.find((l) => l.startsWith('CMD '))!.slice('CMD '.length)) as string[];
    expect(entrypoint[0]).toBe('node');
    expect(entrypoint.at(-1)).toBe('dist/sidecar.mjs');
    // Build the bundle with package.json's own build:sidecar script, as the image build does.
    const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const [tool, ...buildArgs] = scripts['build:sidecar']!.split(/\s+/);
    expect(tool).toBe('esbuild');
    // Into a folder of its own, laid out like the image (no node_modules), never over the dist/sidecar.mjs
    // that e2e tests may be running at the same time.
    const image = mkdtempSync(join(tmpdir(), 'sidecar-image-'));
    const outfile = join(image, entrypoint.at(-1)!);
    expect(buildArgs.filter((a) => a.startsWith('--outfile='))).toEqual([`--outfile=${entrypoint.at(-1)}`]);
    const imageArgs = buildArgs.map((a) => (a.startsWith('--outfile=') ? `--outfile=${outfile}` : a));
    execFileSync(join(root, 'node_modules', '.bin', 'esbuild'), imageArgs, { cwd: root });
    const bundle = readFileSync(outfile, 'utf8');
    // Self-contained: it imports Node built-ins only, nothing from node_modules (the image ships none).
    const imports = [...bundle.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
    expect(imports.length).toBeGreaterThan(0);
    expect(imports.filter((specifier) => !specifier!.startsWith('node:'))).toEqual([]);
    const env = { PATH: process.env.PATH ?? '', NODE_ENV: 'production' };
    const bare = spawnSync(node, [...entrypoint.slice(1), ...cmd], { cwd: image, encoding: 'utf8', env });
    expect(bare.stderr).toContain('BRIDGE_ERR_CONFIG: BRIDGE_UPSTREAM is required');
    expect(bare.status).toBe(1);
    const badFlag = spawnSync(node, [...entrypoint.slice(1), '--no-such-flag'], { cwd: image, encoding: 'utf8', env });
    rmSync(image, { recursive: true, force: true });
    expect(badFlag.stderr).toContain('BRIDGE_ERR_USAGE');
    // The same code behind the CLI.
    expect(execFileSync(node, ['dist/cli/main.js', 'sidecar', 'serve', '--help'], { cwd: root, encoding: 'utf8' })).toContain('sidecar serve');
  });
});
