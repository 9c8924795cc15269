import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { BridgeError, ErrorCodes } from '../../lib/errors.js';
import { repoRoot } from '../../lib/paths.js';

describe('error codes', () => {
  const readme = readFileSync(`${repoRoot()}/README.md`, 'utf8');

  it.each(Object.keys(ErrorCodes))('%s is documented in the README troubleshooting table', (code) => {
    expect(readme).toMatch(new RegExp(`^\\| \`${code}\` \\|`, 'm'));
  });

  it('has no code documented in the README that the code base lacks', () => {
    const documented = [...readme.matchAll(/^\| `(BRIDGE_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(new Set(documented)).toEqual(new Set(Object.keys(ErrorCodes)));
  });

  it('renders one line with the cause and the fix', () => {
    const line = new BridgeError('BRIDGE_ERR_CONFIG', 'BRIDGE_UPSTREAM is empty', { fix: 'set it' }).toLine();
    expect(line).toBe('BRIDGE_ERR_CONFIG: BRIDGE_UPSTREAM is empty (fix: set it)');
    expect(line).not.toContain('\n');
  });
});
