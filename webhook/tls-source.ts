/**
 * Where the serving certificate comes from: files (mounted Secret, cert-manager, `bridgectl certs`),
 * or a Secret the webhook provisions and renews itself (certs/webhook-self-provisioner.ts). Both are
 * certificate sources for the shared reload loop (lib/cert-reload.ts); the server waits for the first
 * certificate before it listens, then hot-swaps.
 */
import { dirname } from 'node:path';
import type { CertSource } from '../lib/cert-reload.js';
import { certificateLifetime, type CertificateAndKey } from '../lib/pki.js';
import { readPemPair } from '../certs/cert-files.js';
import type { WebhookCertProvisioner } from '../certs/webhook-self-provisioner.js';

export interface ServingCertificate {
  pair: CertificateAndKey;
  notAfter: Date;
  /** What changed to produce it: a renewed leaf, or a new CA (the bundle changed too). */
  kind: 'leaf' | 'ca';
}

const sameServing = (a: ServingCertificate, b: ServingCertificate) => a.pair.certPem === b.pair.certPem && a.pair.keyPem === b.pair.keyPem;

/** The pair in two files, checked to be a certificate on every load (a half-written file fails and is retried). */
export function fileServingSource(certFile: string, keyFile: string): CertSource<ServingCertificate> {
  return {
    load() {
      const pair = readPemPair(certFile, keyFile);
      return { pair, notAfter: certificateLifetime(pair.certPem).notAfter, kind: 'leaf' };
    },
    same: sameServing,
    watchDir: dirname(certFile),
  };
}

/** Each load lets the provisioner renew or rotate what is due, then returns what the Secret holds. */
export function secretServingSource(provisioner: WebhookCertProvisioner): CertSource<ServingCertificate> {
  return {
    async load() {
      const { material, result } = await provisioner.sync();
      return { pair: material.serving, notAfter: material.leafNotAfter, kind: result === 'rotated-ca' ? 'ca' : 'leaf' };
    },
    same: sameServing,
  };
}
