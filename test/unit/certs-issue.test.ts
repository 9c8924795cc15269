import { describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { describeCertificate, splitPemBundle, type CertificateAndKey } from '../../lib/tls/pki.js';
import { generateBridgeAuthority, type BridgeIssuers } from '../../certs/bridge-authority.js';
import {
  COMPONENT_CLIENT_ORGANIZATION,
  issueComponentTlsFiles,
  issueSidecarClientCert,
  issueSidecarServingCert,
  issueSidecarTlsFiles,
  issueWebhookServingCert,
  webhookDnsNames,
} from '../../certs/bridge-certs.js';
import { isDue, mergeCaBundle, renewalAction } from '../../certs/renewal.js';
import { secretManifest, decodeSecretData } from '../../certs/cert-files.js';

let ca: CertificateAndKey;
let issuers: BridgeIssuers;
const x509 = (pem: string) => new X509Certificate(pem);

describe('bridge certificates', () => {
  it('webhook serving cert: service names in all four forms, loopback, server usage, signed by the CA', async () => {
    ({ root: ca, issuers } = await generateBridgeAuthority('test-ca'));
    const cert = await issueWebhookServingCert(ca, { serviceName: 'hook', namespace: 'sys', extraDnsNames: ['hook.example.com'], ipAddresses: ['10.0.0.5'] });
    const summary = describeCertificate(cert.certPem);
    expect(summary.dnsNames).toEqual(expect.arrayContaining(['hook', 'hook.sys', 'hook.sys.svc', 'hook.sys.svc.cluster.local', 'hook.example.com']));
    expect(summary.ipAddresses).toEqual(expect.arrayContaining(['127.0.0.1', '10.0.0.5']));
    expect(summary.isCa).toBe(false);
    expect(x509(cert.certPem).verify(x509(ca.certPem).publicKey)).toBe(true);
    expect(x509(cert.certPem).checkPrivateKey((await import('node:crypto')).createPrivateKey(cert.keyPem))).toBe(true);
    expect(x509(cert.certPem).keyUsage ?? []).toContain('1.3.6.1.5.5.7.3.1');
    expect(x509(cert.certPem).keyUsage ?? []).not.toContain('1.3.6.1.5.5.7.3.2');
  });

  // Every labelled namespace holds this key: with the API server's names in it (before issue 21), any of
  // them could impersonate the API server to the pods of the others.
  it('sidecar serving cert answers to loopback only, never to the API server names', async () => {
    const summary = describeCertificate((await issueSidecarServingCert(ca)).certPem);
    expect(summary.ipAddresses.sort()).toEqual(['0:0:0:0:0:0:0:1', '127.0.0.1']);
    expect(summary.dnsNames).toEqual(['localhost']);
  });

  it('sidecar client cert has client usage only and the sidecar identity', async () => {
    const cert = x509((await issueSidecarClientCert(ca)).certPem);
    expect(cert.subject).toContain('CN=cluster-bridge-sidecar');
    expect(cert.subject).toContain('O=cluster-bridge:sidecars');
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
  });

  it('serial numbers are random and positive', async () => {
    const serials = await Promise.all([1, 2, 3].map(async () => x509((await issueSidecarClientCert(ca)).certPem).serialNumber));
    expect(new Set(serials).size).toBe(3);
    for (const s of serials) expect(parseInt(s[0]!, 16)).toBeLessThan(8);
  });

  it('sidecar TLS files carry the trust bundle as ca.crt and render as a kubernetes.io/tls Secret', async () => {
    const files = await issueSidecarTlsFiles(issuers, `${ca.certPem}`);
    const secret = secretManifest('s', 'ns', { ...files }) as { type: string; data: Record<string, string> };
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(Object.keys(secret.data).sort()).toEqual(['ca.crt', 'client.crt', 'client.key', 'tls.crt', 'tls.key']);
    expect(decodeSecretData(secret)['ca.crt']).toBe(ca.certPem);
    // Serving from the serving intermediate, the client certificate from the client intermediate, each presenting it.
    expect(splitPemBundle(files['tls.crt'])[1]).toBe(splitPemBundle(issuers.serving.certPem)[0]);
    expect(splitPemBundle(files['client.crt'])[1]).toBe(splitPemBundle(issuers.client.certPem)[0]);
  });

  it("aggregator and synchronizer TLS dirs: their Service names and the peers' SANs, the bridge root, a client cert for the aggregator only", async () => {
    const aggregator = await issueComponentTlsFiles(issuers, 'cluster-bridge-aggregator', {
      extraDnsNames: ['bridge.example.com'],
      ipAddresses: ['10.0.0.9'],
      client: true,
    });
    const serving = describeCertificate(aggregator['tls.crt']);
    expect(serving.dnsNames).toEqual(expect.arrayContaining(['cluster-bridge-aggregator.cluster-bridge-system.svc', 'bridge.example.com']));
    expect(serving.ipAddresses).toEqual(expect.arrayContaining(['10.0.0.9']));
    expect(aggregator['ca.crt']).toBe(splitPemBundle(ca.certPem)[0]);
    expect(x509(aggregator['tls.crt']).verify(x509(issuers.componentServing.certPem).publicKey)).toBe(true);
    expect(x509(aggregator['tls.crt']).verify(x509(issuers.serving.certPem).publicKey)).toBe(false);
    const client = x509(aggregator['client.crt']!);
    expect(client.subject).toContain(`O=${COMPONENT_CLIENT_ORGANIZATION}`);
    expect(client.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    // From the components' intermediate, never the sidecars' (which the webhook holds).
    expect(client.verify(x509(issuers.componentClient.certPem).publicKey)).toBe(true);
    expect(client.verify(x509(issuers.client.certPem).publicKey)).toBe(false);
    const synchronizer = await issueComponentTlsFiles(issuers, 'cluster-bridge-synchronizer');
    expect(Object.keys(synchronizer).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    expect(secretManifest('s', 'n', { ...aggregator } as Record<string, string>)).toMatchObject({ type: 'kubernetes.io/tls' });
  });

  it('default webhook names include the standard service', () => {
    expect(webhookDnsNames()).toContain('cluster-bridge-webhook.cluster-bridge-system.svc');
  });
});

describe('renewal policy', () => {
  const t = (s: number) => new Date(Date.UTC(2030, 0, 1) + s * 1000);
  const leaf = { notBefore: t(0), notAfter: t(90) };
  const ca = { notBefore: t(0), notAfter: t(100_000) };
  it.each([
    [0, undefined, 'none'],
    [59, undefined, 'none'],
    [60, undefined, 'renew-leaf'],
    [89, undefined, 'renew-leaf'],
    [200, undefined, 'renew-leaf'],
    [10, 85, 'renew-leaf'],
    [4, 85, 'none'],
  ] as const)('leaf at %ss (renewBefore %ss) -> %s', (at, renewBefore, action) => {
    expect(renewalAction(t(at), ca, leaf, renewBefore === undefined ? undefined : renewBefore * 1000)).toBe(action);
  });

  it('rotates the CA when it would expire before a fresh leaf', () => {
    expect(renewalAction(t(0), { notBefore: t(0), notAfter: t(80) }, leaf)).toBe('rotate-ca');
    expect(renewalAction(t(70_000), ca, leaf)).toBe('rotate-ca');
  });

  it('isDue at two thirds of the lifetime by default', () => {
    expect(isDue(t(59), leaf)).toBe(false);
    expect(isDue(t(61), leaf)).toBe(true);
  });

  it('keeps earlier CAs until they expire, current first, at most three', () => {
    const notAfter: Record<string, Date> = { a: t(10), b: t(1000), c: t(1000), d: t(1000) };
    expect(mergeCaBundle('new', ['a', 'b'], t(5), (p) => notAfter[p]!)).toEqual(['new', 'a', 'b']);
    expect(mergeCaBundle('new', ['a', 'b'], t(20), (p) => notAfter[p]!)).toEqual(['new', 'b']);
    expect(mergeCaBundle('new', ['new', 'b', 'c', 'd'], t(20), (p) => notAfter[p]!)).toEqual(['new', 'b', 'c']);
  });
});
