/** Certificates as files (keys 0600) and as Kubernetes Secret manifests. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BridgeError } from '../lib/errors.js';
import type { CertificateAndKey } from '../lib/tls/pki.js';
import { PART_OF_LABEL, PART_OF_VALUE } from '../lib/names.js';

/** The sidecar TLS Secret's data keys (the sidecar reads them from /var/run/cluster-bridge/tls). */
export interface SidecarTlsFiles {
  'tls.crt': string;
  'tls.key': string;
  'client.crt': string;
  'client.key': string;
  /** Trust for the upstream (aggregator) and the local API server: bridge root plus cluster CA. */
  'ca.crt': string;
}

/** A server component's BRIDGE_TLS_DIR (aggregator, synchronizer), as its Secret mounts it. */
export interface ComponentTlsFiles {
  'tls.crt': string;
  'tls.key': string;
  /** The bridge root: verifies the peers' client certificates (and, for a client pair, the server's). */
  'ca.crt': string;
  'client.crt'?: string;
  'client.key'?: string;
}

export function writePemPair(dir: string, baseName: string, pair: CertificateAndKey): { certFile: string; keyFile: string } {
  mkdirSync(dir, { recursive: true });
  const certFile = join(dir, `${baseName}.crt`);
  const keyFile = join(dir, `${baseName}.key`);
  writeFileSync(certFile, pair.certPem, { mode: 0o644 });
  writeFileSync(keyFile, pair.keyPem, { mode: 0o600 });
  return { certFile, keyFile };
}

/** `<dir>/<name>.crt` and `.key` when both exist. */
export function readPemPairIfPresent(dir: string, name: string): CertificateAndKey | undefined {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  return existsSync(certFile) && existsSync(keyFile) ? readPemPair(certFile, keyFile) : undefined;
}

/** The pair stored as `<dir>/<name>.crt|.key`, made and stored first when absent. */
export async function ensurePemPair(dir: string, name: string, make: () => Promise<CertificateAndKey>): Promise<CertificateAndKey> {
  const existing = readPemPairIfPresent(dir, name);
  if (existing) return existing;
  const pair = await make();
  writePemPair(dir, name, pair);
  return pair;
}

/** Writes a sidecar's TLS folder exactly as its Secret mounts it (keys 0600). */
export function writeSidecarTlsDir(dir: string, files: SidecarTlsFiles): void {
  writePemPair(dir, 'tls', { certPem: files['tls.crt'], keyPem: files['tls.key'] });
  writePemPair(dir, 'client', { certPem: files['client.crt'], keyPem: files['client.key'] });
  writeFileSync(join(dir, 'ca.crt'), files['ca.crt']);
}

/** Writes a component's TLS folder exactly as its Secret mounts it (keys 0600). */
export function writeComponentTlsDir(dir: string, files: ComponentTlsFiles): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, pem] of Object.entries(files)) if (pem !== undefined) writeFileSync(join(dir, name), pem, { mode: name.endsWith('.key') ? 0o600 : 0o644 });
}

export function readPemPair(certFile: string, keyFile: string): CertificateAndKey {
  for (const file of [certFile, keyFile]) {
    if (!existsSync(file))
      throw new BridgeError('BRIDGE_ERR_CERT', `${file} does not exist`, { fix: 'create it with `bridgectl certs ca` or point the flag at the right file' });
  }
  return { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
}

/** A Secret whose data values are base64 of the given strings; type kubernetes.io/tls when it has tls.crt and tls.key. */
export function secretManifest(name: string, namespace: string, data: Record<string, string>, labels: Record<string, string> = {}): object {
  const type = 'tls.crt' in data && 'tls.key' in data ? 'kubernetes.io/tls' : 'Opaque';
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: { [PART_OF_LABEL]: PART_OF_VALUE, ...labels } },
    type,
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  };
}

export function decodeSecretData(secret: { data?: Record<string, string> }): Record<string, string> {
  return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}
