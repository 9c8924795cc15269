import { describe, expect, it } from '@jest/globals';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { describeCertificate, generateCa, issueCertificate, serviceDnsNames, splitPemBundle } from '../../lib/tls/pki.js';

describe('pki', () => {
  it('makes a CA that signs a server certificate with the requested SANs and usages', async () => {
    const ca = await generateCa('test-ca');
    const leaf = await issueCertificate(ca, {
      commonName: 'svc',
      usage: 'server',
      dnsNames: serviceDnsNames('webhook', 'cluster-bridge-system'),
      ipAddresses: ['127.0.0.1'],
    });
    const caX509 = new X509Certificate(ca.certPem);
    const leafX509 = new X509Certificate(leaf.certPem);
    expect(caX509.ca).toBe(true);
    expect(leafX509.ca).toBe(false);
    expect(leafX509.verify(caX509.publicKey)).toBe(true);
    expect(leafX509.checkIssued(caX509)).toBe(true);
    const summary = describeCertificate(leaf.certPem);
    expect(summary.dnsNames).toEqual([
      'webhook',
      'webhook.cluster-bridge-system',
      'webhook.cluster-bridge-system.svc',
      'webhook.cluster-bridge-system.svc.cluster.local',
    ]);
    expect(summary.ipAddresses).toEqual(['127.0.0.1']);
    expect(leafX509.checkHost('webhook.cluster-bridge-system.svc')).toBe('webhook.cluster-bridge-system.svc');
    expect(leafX509.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(leafX509.keyUsage ?? []).toContain('1.3.6.1.5.5.7.3.1');
    expect(leafX509.keyUsage ?? []).not.toContain('1.3.6.1.5.5.7.3.2');
    // The private key matches the certificate.
    expect(createPublicKey(createPrivateKey(leaf.keyPem)).export({ format: 'pem', type: 'spki' })).toEqual(
      leafX509.publicKey.export({ format: 'pem', type: 'spki' }),
    );
  });

  it('puts organizations in the subject for client certificates and uses random positive serials', async () => {
    const ca = await generateCa('test-ca');
    const a = await issueCertificate(ca, { commonName: 'admin', organizations: ['system:masters'], usage: 'client' });
    const b = await issueCertificate(ca, { commonName: 'admin', usage: 'client' });
    expect(describeCertificate(a.certPem).subject).toContain('O=system:masters');
    expect(new X509Certificate(a.certPem).keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    const serialA = describeCertificate(a.certPem).serialNumber;
    expect(serialA).not.toEqual(describeCertificate(b.certPem).serialNumber);
    expect(parseInt(serialA.slice(0, 2), 16)).toBeLessThan(0x80);
  });

  it('honours explicit validity windows', async () => {
    const ca = await generateCa('test-ca', { notBefore: new Date('2019-01-01T00:00:00Z') });
    const notBefore = new Date('2020-01-01T00:00:00Z');
    const notAfter = new Date('2020-01-02T00:00:00Z');
    const expired = await issueCertificate(ca, { commonName: 'old', usage: 'server', notBefore, notAfter });
    const summary = describeCertificate(expired.certPem);
    expect(summary.notBefore.toISOString()).toBe(notBefore.toISOString());
    expect(summary.notAfter.toISOString()).toBe(notAfter.toISOString());
  });

  it('refuses to issue from a CA that has expired or is not yet valid', async () => {
    const expired = await generateCa('old-ca', { notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2021-01-01T00:00:00Z') });
    await expect(issueCertificate(expired, { commonName: 'a', usage: 'server' })).rejects.toMatchObject({
      code: 'BRIDGE_ERR_CERT_EXPIRED',
      message: expect.stringContaining('"old-ca" expired at 2021-01-01T00:00:00.000Z'),
    });
    const future = await generateCa('future-ca', { notBefore: new Date(Date.now() + 86_400_000) });
    await expect(issueCertificate(future, { commonName: 'a', usage: 'server' })).rejects.toMatchObject({ code: 'BRIDGE_ERR_CERT_EXPIRED' });
  });

  it('rejects garbage with a coded error and splits bundles', async () => {
    expect(() => describeCertificate('not a cert')).toThrow(expect.objectContaining({ code: 'BRIDGE_ERR_CERT' }));
    await expect(issueCertificate({ certPem: 'x', keyPem: 'y' }, { commonName: 'a', usage: 'server' })).rejects.toMatchObject({ code: 'BRIDGE_ERR_CERT' });
    const [one, two] = [await generateCa('a'), await generateCa('b')];
    expect(splitPemBundle(one.certPem + two.certPem)).toHaveLength(2);
  });
});
