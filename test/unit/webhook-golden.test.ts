/**
 * Golden files (Istio's testdata/inject idea): test/golden/webhook/X.yaml is a pod, X.injected.yaml what
 * the webhook makes of it. `BRIDGE_UPDATE_GOLDEN=1` rewrites the expectations; otherwise a stale golden fails.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { repoRoot } from '../../lib/paths.js';
import { shouldInject } from '../../webhook/decision.js';
import { defaultInjectionConfig } from '../../webhook/injection-config.js';
import { injectPod } from '../../webhook/mutation.js';
import type { Pod } from '../../webhook/pod-types.js';

const dir = join(repoRoot(), 'test', 'golden', 'webhook');
const update = process.env.BRIDGE_UPDATE_GOLDEN === '1';
const inputs = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml') && !f.endsWith('.injected.yaml'))
  .sort();

function configFor(file: string) {
  return defaultInjectionConfig({
    version: '0.1.0',
    sidecarStyle: file.startsWith('container-style') ? 'container' : 'native',
    upstream: { host: '10.20.30.40', port: 8443 },
    localApiserver: { host: '10.96.0.1', port: 443 },
  });
}

function render(file: string): { text: string; output: Pod } {
  const pod = parse(readFileSync(join(dir, file), 'utf8')) as Pod;
  const config = configFor(file);
  const decision = shouldInject(pod, { name: pod.metadata?.namespace ?? 'apps' }, config);
  const output = decision.inject ? injectPod(pod, decision.mode, config) : pod;
  const header = `# generated from ${file} by test/unit/webhook-golden.test.ts (BRIDGE_UPDATE_GOLDEN=1 to regenerate)\n# decision: ${decision.reason}, mode ${decision.mode}, style ${config.sidecarStyle}\n`;
  return { text: header + stringify(output), output };
}

describe('webhook golden files', () => {
  it('has at least 15 pod shapes', () => {
    expect(inputs.length).toBeGreaterThanOrEqual(15);
  });

  it('has no expectation without an input', () => {
    const orphans = readdirSync(dir).filter((f) => f.endsWith('.injected.yaml') && !inputs.includes(f.replace(/\.injected\.yaml$/, '.yaml')));
    expect(orphans).toEqual([]);
  });

  it.each(inputs)('%s matches its .injected.yaml', (file) => {
    const goldenPath = join(dir, file.replace(/\.yaml$/, '.injected.yaml'));
    const { text } = render(file);
    if (update) writeFileSync(goldenPath, text);
    expect(existsSync(goldenPath)).toBe(true);
    const golden = readFileSync(goldenPath, 'utf8');
    if (golden !== text)
      throw new Error(`${goldenPath} is stale; inspect the diff and rerun with BRIDGE_UPDATE_GOLDEN=1\n--- expected (file)\n${golden}\n--- actual\n${text}`);
    expect(golden).toBe(text);
  });

  it.each(inputs)('%s: injecting the injected pod changes nothing', (file) => {
    const { output } = render(file);
    const config = configFor(file);
    const again = shouldInject(output, { name: 'apps' }, config);
    const twice = again.inject ? injectPod(output, again.mode, config) : output;
    expect(twice).toEqual(output);
  });
});
