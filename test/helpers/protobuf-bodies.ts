/**
 * Runs test/helpers/go/protobuf-bodies (client-go v0.36.3): protobuf request bodies as client-go writes
 * them, and their decoding by the API server's own protobuf serializer.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../lib/paths.js';

export type ProtobufFixture = 'configmap-update' | 'lease-update' | 'configmap-delete' | 'secret-create-owned' | 'configmap-list';

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
