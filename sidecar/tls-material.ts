/**
 * The sidecar's certificates, from a mounted Secret directory (BRIDGE_TLS_DIR): `tls.crt`/`tls.key`
 * serve the loopback listener; optional `client.crt`/`client.key` authenticate to the upstream (mTLS);
 * optional `ca.crt` verifies the upstream. Kubernetes updates a Secret volume by swapping a symlink,
 * so the directory is watched (plus a slow poll as a safety net, lib/cert-reload) and changes are hot-swapped.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { CertSource } from '../lib/cert-reload.js';
import { BridgeError, errorMessage } from '../lib/errors.js';

export interface TlsMaterial {
  servingCertPem: string;
  servingKeyPem: string;
  clientCertPem?: string;
  clientKeyPem?: string;
  upstreamCaPem?: string;
}

export const TLS_FILES = { servingCert: 'tls.crt', servingKey: 'tls.key', clientCert: 'client.crt', clientKey: 'client.key', ca: 'ca.crt' } as const;

function readOptional(dir: string, file: string): string | undefined {
  const path = join(dir, file);
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

export function hasServingCertificate(dir: string): boolean {
  return existsSync(join(dir, TLS_FILES.servingCert)) && existsSync(join(dir, TLS_FILES.servingKey));
}

/** Reads and checks the directory: each cert matches its key (createSecureContext fails otherwise). */
export function readTlsMaterial(dir: string): TlsMaterial {
  try {
    const servingCertPem = readFileSync(join(dir, TLS_FILES.servingCert), 'utf8');
    const servingKeyPem = readFileSync(join(dir, TLS_FILES.servingKey), 'utf8');
    const clientCertPem = readOptional(dir, TLS_FILES.clientCert);
    const clientKeyPem = readOptional(dir, TLS_FILES.clientKey);
    if ((clientCertPem === undefined) !== (clientKeyPem === undefined)) {
      throw new Error(`${TLS_FILES.clientCert} and ${TLS_FILES.clientKey} must both be present or both absent`);
    }
    const upstreamCaPem = readOptional(dir, TLS_FILES.ca);
    createSecureContext({ cert: servingCertPem, key: servingKeyPem });
    if (clientCertPem) createSecureContext({ cert: clientCertPem, key: clientKeyPem });
    if (upstreamCaPem) createSecureContext({ ca: upstreamCaPem });
    return { servingCertPem, servingKeyPem, clientCertPem, clientKeyPem, upstreamCaPem };
  } catch (err) {
    throw new BridgeError('BRIDGE_ERR_CERT', `cannot load the sidecar TLS files from ${dir}: ${errorMessage(err)}`, {
      fix: `mount a Secret with ${TLS_FILES.servingCert} and ${TLS_FILES.servingKey} (and optionally client.crt, client.key, ca.crt) at BRIDGE_TLS_DIR`,
      cause: err,
    });
  }
}

function sameMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  return (
    a.servingCertPem === b.servingCertPem &&
    a.servingKeyPem === b.servingKeyPem &&
    a.clientCertPem === b.clientCertPem &&
    a.clientKeyPem === b.clientKeyPem &&
    a.upstreamCaPem === b.upstreamCaPem
  );
}

/** The local API server's CA bundle (BRIDGE_LOCAL_CA_FILE) as a certificate source; it must parse as a CA bundle. */
export function localCaSource(file: string): CertSource<string> {
  return {
    load() {
      const pem = readFileSync(file, 'utf8');
      createSecureContext({ ca: pem });
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`${file} holds no certificate`);
      return pem;
    },
    same: (a, b) => a === b,
    watchDir: dirname(file),
  };
}

/** The TLS folder as a certificate source: reloaded whenever its files change and still load. */
export function tlsDirSource(dir: string): CertSource<TlsMaterial> {
  return { load: () => readTlsMaterial(dir), same: sameMaterial, watchDir: dir };
}
