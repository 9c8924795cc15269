/**
 * Golden files (Istio's testdata/inject harness): test/golden/webhook/X.yaml is a pod, X.injected.yaml
 * what the API server stores after sending it to the webhook. Each case goes through handleAdmission
 * as an AdmissionReview, and the JSONPatch it returns is applied to the pod, as the API server does.
 * The injector's version is replaced by `VERSION`, so a release does not rewrite every file.
 * `BRIDGE_UPDATE_GOLDEN=1` rewrites the files and then fails for each one it changed, so a run in
 * update mode can never pass by comparing a file with itself.
 */
import { describe, expect, it } from '@jest/globals';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { repoRoot } from '../../lib/process/paths.js';
import { handleAdmission, type AdmissionOutcome } from '../../webhook/admission-handler.js';
import { injectorVersion } from '../../webhook/constants.js';
import { defaultInjectionConfig } from '../../webhook/injection-config.js';
import type { Pod } from '../../webhook/pod-types.js';

const dir = join(repoRoot(), 'test', 'golden', 'webhook');
const update = process.env.BRIDGE_UPDATE_GOLDEN === '1';
const inputs = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml') && !f.endsWith('.injected.yaml'))
  .sort();

function configFor(file: string) {
  return defaultInjectionConfig({
    version: injectorVersion(),
    sidecarStyle: file.startsWith('container-style') ? 'container' : 'native',
    upstream: { host: '10.20.30.40', port: 8443 },
    localApiserver: { host: '10.96.0.1', port: 443 },
  });
}

interface Admitted {
  pod: Pod;
  outcome: AdmissionOutcome;
  patch: Operation[];
}

/** What the API server would store: the pod sent as a CREATE review, with the webhook's patch applied. */
function admit(file: string, pod: Pod): Admitted {
  const review = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `golden-${file}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: pod.metadata?.namespace ?? 'apps',
      operation: 'CREATE',
      object: pod,
    },
  };
  const result = handleAdmission(JSON.stringify(review), 'application/json', { config: configFor(file) });
  expect(result.status).toBe(200);
  const response = (result.body as { response: { allowed: boolean; patch?: string; patchType?: string } }).response;
  expect(response.allowed).toBe(true);
  const patch = response.patch ? (JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as Operation[]) : [];
  if (response.patch) expect(response.patchType).toBe('JSONPatch');
  const stored = fastJsonPatch.applyPatch(structuredClone(pod), patch, true, false).newDocument;
  return { pod: stored, outcome: result.outcome, patch };
}

function render(file: string): { text: string; admitted: Admitted } {
  const pod = parse(readFileSync(join(dir, file), 'utf8')) as Pod;
  const admitted = admit(file, pod);
  const header = `# generated from ${file} by test/unit/webhook-golden.test.ts (BRIDGE_UPDATE_GOLDEN=1 to regenerate)\n# decision: ${admitted.outcome.reason}, mode ${admitted.outcome.mode ?? 'sidecar'}, style ${configFor(file).sidecarStyle}\n`;
  return { text: (header + stringify(admitted.pod)).replaceAll(injectorVersion(), 'VERSION'), admitted };
}

describe('webhook golden files', () => {
  it('has at least 15 pod shapes, and the version placeholder cannot clash with pod content', () => {
    expect(inputs.length).toBeGreaterThanOrEqual(15);
    for (const file of inputs) expect(readFileSync(join(dir, file), 'utf8')).not.toContain('VERSION');
  });

  it('has no expectation without an input', () => {
    const orphans = readdirSync(dir).filter((f) => f.endsWith('.injected.yaml') && !inputs.includes(f.replace(/\.injected\.yaml$/, '.yaml')));
    expect(orphans).toEqual([]);
  });

  it.each(inputs)('%s: the admitted pod matches its .injected.yaml', (file) => {
    const goldenPath = join(dir, file.replace(/\.yaml$/, '.injected.yaml'));
    const { text } = render(file);
    const before = existsSync(goldenPath) ? readFileSync(goldenPath, 'utf8') : undefined;
    if (update) {
      writeFileSync(goldenPath, text);
      if (before !== text) throw new Error(`rewrote ${goldenPath}; review the diff and run the tests again without BRIDGE_UPDATE_GOLDEN`);
    }
    if (before !== text)
      throw new Error(`${goldenPath} is stale; inspect the diff and rerun with BRIDGE_UPDATE_GOLDEN=1\n--- expected (file)\n${before}\n--- actual\n${text}`);
    expect(before).toBe(text);
  });

  it.each(inputs)('%s: sending the admitted pod again changes nothing', (file) => {
    const first = render(file).admitted;
    if (first.patch.length === 0) {
      // Skipped pods: the webhook answered without a patch, and said why.
      expect(first.outcome.reason).not.toMatch(/^(injected|reinject)$/);
      expect(first.pod).toEqual(parse(readFileSync(join(dir, file), 'utf8')));
      return;
    }
    const again = admit(file, first.pod);
    expect({ reason: again.outcome.reason, patch: again.patch }).toEqual({ reason: 'already-injected', patch: [] });
  });
});
