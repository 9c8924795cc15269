/**
 * Where the serving certificate comes from: files (mounted Secret, cert-manager, `bridgectl certs`),
 * re-read when they change, or self-provisioned in a Secret (certs/webhook-self-provisioner.ts).
 * Either way the server waits for the first certificate before it listens, then hot-swaps.
 */
import { statSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { CertificateAndKey } from '../lib/pki.js';
import { readPemPair } from '../certs/cert-files.js';
import type { WebhookCertProvisioner } from '../certs/webhook-self-provisioner.js';

export interface TlsSource {
  /** The first certificate; the server does not listen before it has one. */
  initial(): Promise<CertificateAndKey>;
  /** Calls onChange with each new certificate until stop(). */
  start(onChange: (tls: CertificateAndKey, kind: 'leaf' | 'ca') => void): void;
  stop(): void;
}

export function certNotAfter(certPem: string): Date {
  return new Date(new X509Certificate(certPem).validTo);
}

export class FileTlsSource implements TlsSource {
  private timer: NodeJS.Timeout | undefined;
  private lastStamp = '';

  constructor(
    private readonly certFile: string,
    private readonly keyFile: string,
    private readonly log: Logger,
    private readonly pollMs = 5000,
  ) {}

  private stamp(): string {
    return [this.certFile, this.keyFile].map((f) => `${statSync(f).mtimeMs}:${statSync(f).size}`).join('|');
  }

  async initial(): Promise<CertificateAndKey> {
    this.lastStamp = this.stamp();
    const pair = readPemPair(this.certFile, this.keyFile);
    certNotAfter(pair.certPem); // fail at start on a file that is not a certificate
    return pair;
  }

  start(onChange: (tls: CertificateAndKey, kind: 'leaf' | 'ca') => void): void {
    this.timer = setInterval(() => {
      try {
        const stamp = this.stamp();
        if (stamp === this.lastStamp) return;
        const pair = readPemPair(this.certFile, this.keyFile);
        certNotAfter(pair.certPem);
        this.lastStamp = stamp;
        onChange(pair, 'leaf');
      } catch (err) {
        // Half-written files during a rotation: keep serving the old pair and look again.
        this.log.warn({ err: errorMessage(err) }, 'cannot reload the serving certificate files yet');
      }
    }, this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

export class SecretTlsSource implements TlsSource {
  private timer: NodeJS.Timeout | undefined;
  private currentCert = '';

  constructor(
    private readonly provisioner: WebhookCertProvisioner,
    private readonly log: Logger,
    private readonly checkMs: number,
  ) {}

  async initial(): Promise<CertificateAndKey> {
    const { material, result } = await this.provisioner.sync();
    this.log.info({ result, notAfter: material.leafNotAfter.toISOString() }, 'serving certificate ready');
    this.currentCert = material.serving.certPem;
    return material.serving;
  }

  start(onChange: (tls: CertificateAndKey, kind: 'leaf' | 'ca') => void): void {
    let running = false;
    this.timer = setInterval(() => {
      if (running) return;
      running = true;
      this.provisioner
        .sync()
        .then(({ material, result }) => {
          if (material.serving.certPem === this.currentCert) return;
          this.currentCert = material.serving.certPem;
          this.log.info({ result, notAfter: material.leafNotAfter.toISOString() }, 'serving certificate changed');
          onChange(material.serving, result === 'rotated-ca' ? 'ca' : 'leaf');
        })
        .catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'certificate check failed; serving the current certificate'))
        .finally(() => (running = false));
    }, this.checkMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
