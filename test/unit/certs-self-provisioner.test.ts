/** The self-provisioner against an in-memory API (Secret + MutatingWebhookConfiguration) and a fake clock. */
import { describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import fastJsonPatch from 'fast-json-patch';
import type { KubeRestClient, KubeResponse } from '../../lib/kube/rest-client.js';
import { splitPemBundle } from '../../lib/tls/pki.js';
import { decodeSecretData } from '../../certs/cert-files.js';
import { WebhookCertProvisioner } from '../../certs/webhook-self-provisioner.js';

class FakeApi {
  secret: { metadata: { resourceVersion: string }; data: Record<string, string> } | undefined;
  mwc = {
    metadata: { name: 'hook' },
    webhooks: [
      { name: 'a', clientConfig: { url: 'https://x' } as { url: string; caBundle?: string } },
      { name: 'b', clientConfig: { url: 'https://y' } as { url: string; caBundle?: string } },
    ],
  };
  rv = 1;
  /** Simulates another replica writing between our read and our write. */
  conflictNextWrite = false;
  calls: string[] = [];

  async request<T>(method: string, path: string, body?: unknown): Promise<KubeResponse<T>> {
    this.calls.push(`${method} ${path.includes('secrets') ? 'secret' : 'mwc'}`);
    if (path.includes('mutatingwebhookconfigurations')) {
      if (method === 'GET') return { status: 200, body: structuredClone(this.mwc) as T };
      this.mwc = fastJsonPatch.applyPatch(this.mwc, body as fastJsonPatch.Operation[], true, false).newDocument;
      return { status: 200, body: this.mwc as T };
    }
    if (method === 'GET') return this.secret ? { status: 200, body: structuredClone(this.secret) as T } : { status: 404, body: {} as T };
    if (this.conflictNextWrite) {
      this.conflictNextWrite = false;
      this.rv++;
      if (this.secret) this.secret.metadata.resourceVersion = String(this.rv);
      return { status: 409, body: {} as T };
    }
    const incoming = body as { metadata: { resourceVersion?: string }; data: Record<string, string> };
    if (method === 'POST' && this.secret) return { status: 409, body: {} as T };
    if (method === 'PUT' && incoming.metadata.resourceVersion !== this.secret?.metadata.resourceVersion) return { status: 409, body: {} as T };
    this.rv++;
    this.secret = { metadata: { resourceVersion: String(this.rv) }, data: incoming.data };
    return { status: method === 'POST' ? 201 : 200, body: this.secret as T };
  }

  async expect<T>(method: string, path: string, ok: number[], body?: unknown): Promise<KubeResponse<T>> {
    const r = await this.request<T>(method, path, body);
    if (!ok.includes(r.status)) throw new Error(`HTTP ${r.status}`);
    return r;
  }

  bundle(): string[] {
    return this.mwc.webhooks.map((w) => Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString());
  }
}

function provisioner(api: FakeApi, clock: { now: Date }, caValidityDays = 3650) {
  return new WebhookCertProvisioner(api as unknown as KubeRestClient, {
    namespace: 'sys',
    secretName: 'tls',
    webhookConfigName: 'hook',
    serviceName: 'hook',
    serviceNamespace: 'sys',
    extraDnsNames: [],
    ipAddresses: ['127.0.0.1'],
    leafValiditySeconds: 3600,
    caValidityDays,
    now: () => clock.now,
  });
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

describe('WebhookCertProvisioner', () => {
  it('creates a CA and a leaf, stores them, and patches the caBundle into every webhook', async () => {
    const api = new FakeApi();
    const clock = { now: new Date() };
    const { material, result } = await provisioner(api, clock).sync();
    expect(result).toBe('created');
    const stored = decodeSecretData(api.secret!);
    expect(stored['tls.crt']).toBe(material.serving.certPem);
    expect(api.bundle()).toEqual([stored['ca.crt'], stored['ca.crt']]);
    expect(new X509Certificate(material.serving.certPem).verify(new X509Certificate(stored['ca.crt']!).publicKey)).toBe(true);
    // Trust before use: the bundle was patched before the Secret (and so the leaf) was published.
    expect(api.calls.indexOf('PATCH mwc')).toBeLessThan(api.calls.indexOf('POST secret'));
  });

  it('a second replica loads the same pair instead of making its own', async () => {
    const api = new FakeApi();
    const clock = { now: new Date() };
    const first = await provisioner(api, clock).sync();
    const second = await provisioner(api, clock).sync();
    expect(second.result).toBe('loaded');
    expect(second.material.serving.certPem).toBe(first.material.serving.certPem);
  });

  it('renews the leaf at two thirds of its lifetime, from the same CA', async () => {
    const api = new FakeApi();
    const clock = { now: new Date() };
    const p = provisioner(api, clock);
    const first = await p.sync();
    clock.now = new Date(clock.now.getTime() + 30 * 60_000);
    expect((await p.sync()).result).toBe('loaded');
    clock.now = new Date(clock.now.getTime() + 20 * 60_000);
    const renewed = await p.sync();
    expect(renewed.result).toBe('renewed-leaf');
    expect(fingerprint(renewed.material.serving.certPem)).not.toBe(fingerprint(first.material.serving.certPem));
    expect(splitPemBundle(renewed.material.caBundlePem)).toHaveLength(1);
  });

  it('rotates the CA keeping the previous one in the bundle, and survives a write conflict', async () => {
    const api = new FakeApi();
    const clock = { now: new Date() };
    const p = provisioner(api, clock, 1);
    const first = await p.sync();
    const oldCa = decodeSecretData(api.secret!)['ca.crt']!;
    clock.now = new Date(clock.now.getTime() + 17 * 3600_000);
    api.conflictNextWrite = true;
    const rotated = await p.sync();
    expect(rotated.result).toBe('rotated-ca');
    const newCa = decodeSecretData(api.secret!)['ca.crt']!;
    expect(fingerprint(newCa)).not.toBe(fingerprint(oldCa));
    const bundle = splitPemBundle(api.bundle()[0]!).map(fingerprint);
    expect(bundle).toEqual([fingerprint(newCa), fingerprint(oldCa)]);
    expect(new X509Certificate(rotated.material.serving.certPem).verify(new X509Certificate(newCa).publicKey)).toBe(true);
    expect(rotated.material.serving.certPem).not.toBe(first.material.serving.certPem);
  });
});
