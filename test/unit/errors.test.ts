import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BridgeError, ErrorCodes, type ErrorCode } from '../../lib/errors.js';
import { repoRoot } from '../../lib/process/paths.js';

const SOURCE_DIRS = ['aggregator', 'certs', 'cli', 'lab', 'lib', 'sidecar', 'synchronizer', 'webhook'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith(join('lib', 'errors.ts')) ? [path] : [];
  });
}

describe('error codes', () => {
  const readme = readFileSync(`${repoRoot()}/README.md`, 'utf8');
  const source = SOURCE_DIRS.flatMap((dir) => sourceFiles(join(repoRoot(), dir)))
    .map((file) => readFileSync(file, 'utf8'))
    .join('\n');
  const codes = Object.keys(ErrorCodes) as ErrorCode[];

  it.each(codes)('%s is documented in the README troubleshooting table with its HTTP answer, meaning and fix', (code) => {
    const { status, statusReason, meaning, fix } = ErrorCodes[code];
    expect(readme).toContain(`| \`${code}\` | ${status} ${statusReason} | ${meaning} | ${fix} |`);
  });

  it('has no code documented in the README that the code base lacks', () => {
    const documented = [...readme.matchAll(/^\| `(BRIDGE_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(new Set(documented)).toEqual(new Set(codes));
  });

  it.each(codes)('%s is thrown somewhere in the product code', (code) => {
    expect(source).toMatch(new RegExp(`new BridgeError\\(\\s*'${code}'|code: '${code}'|: ErrorCode = '${code}'`));
  });

  it("renders one line with the cause and the call site's fix", () => {
    const line = new BridgeError('BRIDGE_ERR_CONFIG', 'BRIDGE_UPSTREAM is empty', { fix: 'set it' }).toLine();
    expect(line).toBe('BRIDGE_ERR_CONFIG: BRIDGE_UPSTREAM is empty (fix: set it)');
    expect(line).not.toContain('\n');
  });

  it("answers with the code's HTTP status and reason unless the call site narrows it", () => {
    const held = new BridgeError('BRIDGE_ERR_SHARD_HELD', 'the configmaps shard is changing owner; retry shortly', { retryAfterSeconds: 1 });
    expect([held.status, held.statusReason, held.retryAfterSeconds]).toEqual([503, 'ServiceUnavailable', 1]);
    const media = new BridgeError('BRIDGE_ERR_ADMISSION_REVIEW', 'Content-Type must be application/json', {
      status: 415,
      statusReason: 'UnsupportedMediaType',
    });
    expect([media.status, media.statusReason]).toEqual([415, 'UnsupportedMediaType']);
    expect(new BridgeError('BRIDGE_ERR_ADMISSION_REVIEW', 'kind must be AdmissionReview').status).toBe(400);
  });

  it("falls back to the code's own fix when the call site has none", () => {
    const err = new BridgeError('BRIDGE_ERR_LAB_NOT_RUNNING', 'the lab is not running');
    expect(err.fix).toBe(ErrorCodes.BRIDGE_ERR_LAB_NOT_RUNNING.fix);
    expect(err.toLine()).toBe('BRIDGE_ERR_LAB_NOT_RUNNING: the lab is not running (fix: run `bridgectl lab up`)');
  });
});
