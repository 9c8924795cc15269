/**
 * Runs test/helpers/go/protobuf-bodies (client-go v0.36.3): protobuf request bodies as client-go writes
 * them, and their decoding by the API server's own protobuf serializer.
 */
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../lib/process/paths.js';

export type ProtobufFixture =
  'configmap-update' | 'configmap-update-marked' | 'lease-update' | 'configmap-delete' | 'configmap-delete-plain' | 'secret-create-owned' | 'configmap-list';

export interface GoDecoded {
  /** The typed object kube-apiserver would decode, as JSON. */
  object: Record<string, unknown>;
  /** That object encoded again by the same codec. */
  reencoded: Buffer;
}

function run(mode: string, input?: string): string {
  return execFileSync('go', ['run', '.', mode], {
    cwd: join(repoRoot(), 'test', 'helpers', 'go', 'protobuf-bodies'),
    input,
    env: { ...process.env, GOFLAGS: '-mod=readonly' },
    maxBuffer: 64 * 1024 * 1024,
  }).toString();
}

export function clientGoFixtures(): Record<ProtobufFixture, Buffer> {
  const out = JSON.parse(run('fixtures')) as Record<ProtobufFixture, string>;
  return Object.fromEntries(Object.entries(out).map(([name, b64]) => [name, Buffer.from(b64, 'base64')])) as Record<ProtobufFixture, Buffer>;
}

export function goDecode(bodies: Record<string, Buffer>): Record<string, GoDecoded> {
  const input = JSON.stringify(Object.fromEntries(Object.entries(bodies).map(([name, body]) => [name, body.toString('base64')])));
  const out = JSON.parse(run('decode', input)) as Record<string, { object: Record<string, unknown>; reencoded: string }>;
  return Object.fromEntries(Object.entries(out).map(([name, d]) => [name, { object: d.object, reencoded: Buffer.from(d.reencoded, 'base64') }]));
}

export function goSchemeLayout(): { kindsChecked: number; problems: string[]; withDeleteOptions: string[] } {
  return JSON.parse(run('scheme')) as { kindsChecked: number; problems: string[]; withDeleteOptions: string[] };
}

export interface ClientGoStep {
  op: 'create' | 'get' | 'update' | 'delete';
  kind: 'configmap' | 'lease';
  namespace: string;
  name: string;
  /** For update: the RV to present instead of the one just read; for delete: the precondition. */
  rv?: string;
  /** For delete: the UID precondition. */
  uid?: string;
  /** For a ConfigMap update: annotations set over those read. */
  annotations?: Record<string, string>;
  value?: string;
}

export interface ClientGoStepResult {
  rv?: string;
  uid?: string;
  code?: number;
  reason?: string;
  message?: string;
  /** The Content-Type the step's request body left client-go with. */
  sentAs?: string;
}

/** Builds the program once (the build cache makes later builds quick) and returns a runner of client-go steps. */
export function clientGoStepsRunner(outDir: string): (kubeconfig: string, steps: ClientGoStep[]) => Promise<ClientGoStepResult[]> {
  const binary = join(outDir, 'protobuf-bodies');
  execFileSync('go', ['build', '-o', binary, '.'], {
    cwd: join(repoRoot(), 'test', 'helpers', 'go', 'protobuf-bodies'),
    env: { ...process.env, GOFLAGS: '-mod=readonly' },
  });
  const capitalized = (step: ClientGoStep) => Object.fromEntries(Object.entries(step).map(([k, v]) => [k[0]!.toUpperCase() + k.slice(1), v]));
  return (kubeconfig, steps) =>
    new Promise((resolve, reject) => {
      const child = execFile(binary, ['steps', kubeconfig], { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
        err ? reject(new Error(`client-go steps failed: ${stderr || err.message}`)) : resolve(JSON.parse(stdout) as ClientGoStepResult[]),
      );
      child.stdin!.end(JSON.stringify(steps.map(capitalized)));
    });
}
