/**
 * The tree stays as the linters want it: formatted (prettier), free of import cycles, over-long lines
 * and over-complex functions (eslint), so what was cleaned up cannot quietly come back.
 */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../lib/process/paths.js';

function runTool(bin: string, args: string[]) {
  const result = spawnSync(process.execPath, [join(repoRoot(), 'node_modules', bin), ...args], { cwd: repoRoot(), encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('source style', () => {
  it('is formatted by prettier', () => {
    const result = runTool('prettier/bin/prettier.cjs', ['--check', '--log-level', 'warn', '.']);
    expect(result.output).toBe('');
    expect(result.status).toBe(0);
  }, 120_000);

  it('passes eslint (no import cycles, lines within 160 columns, complexity at most 20)', () => {
    const result = runTool('eslint/bin/eslint.js', ['--max-warnings', '0', '.']);
    expect(result.output).toBe('');
    expect(result.status).toBe(0);
  }, 120_000);
});
