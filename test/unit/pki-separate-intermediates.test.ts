// Serving and client certificates come from separate intermediates of one root (issue 21): a client
// certificate never serves and a serving certificate never authenticates, even one minted with both
// usages by whoever holds the other intermediate's key. Real X.509 and real TLS handshakes (OpenSSL).
import { beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { clientVerdict, serverVerdict } from '../helpers/tls-verdicts.js';
import { generateCa, generateIntermediateCa, issueCertificate, splitPemBundle, trustAnchors, type CertificateAndKey } from '../../lib/tls/pki.js';

let root: CertificateAndKey;
let servingCa: CertificateAndKey;
let clientCa: CertificateAndKey;

const loopback = { commonName: 'peer', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] };

beforeAll(async () => {
  root = await generateCa('separation-root');
  [servingCa, clientCa] = await Promise.all([generateIntermediateCa(root, 'serving', 'server'), generateIntermediateCa(root, 'client', 'client')]);
});

const serverSays = (pair: CertificateAndKey) => serverVerdict(pair, trustAnchors(root.certPem));
async function clientSays(pair: CertificateAndKey) {
  return clientVerdict(pair, await issueCertificate(servingCa, { ...loopback, usage: 'server' }), trustAnchors(root.certPem));
}

describe('separate serving and client intermediates', () => {
  it('makes intermediates that are CAs for one purpose, signed by the root, and leaves that present their intermediate', async () => {
    const [intermediate, rootCopy] = splitPemBundle(servingCa.certPem).map((pem) => new X509Certificate(pem));
    expect(intermediate!.ca).toBe(true);
    expect(intermediate!.verify(new X509Certificate(root.certPem).publicKey)).toBe(true);
    expect(intermediate!.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(new X509Certificate(splitPemBundle(clientCa.certPem)[0]!).keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(rootCopy!.raw.equals(new X509Certificate(root.certPem).raw)).toBe(true);
    // The holder of the chain finds the root to trust in it.
    expect(trustAnchors(servingCa.certPem)).toBe(splitPemBundle(root.certPem)[0]);
    const leaf = splitPemBundle((await issueCertificate(clientCa, { commonName: 'c', usage: 'client' })).certPem);
    expect(leaf).toHaveLength(2);
    expect(leaf[1]).toBe(splitPemBundle(clientCa.certPem)[0]);
  });

  it('a serving certificate of the serving intermediate serves (the control)', async () => {
    expect(await serverSays(await issueCertificate(servingCa, { ...loopback, usage: 'server' }))).toBeUndefined();
  });

  it('a client certificate is refused as a server, even one the client intermediate minted for serving too', async () => {
    expect(await serverSays(await issueCertificate(clientCa, { ...loopback, usage: 'client' }))).toBe('INVALID_PURPOSE');
    // The leaf allows serving; its intermediate does not, and the verifier checks the whole chain.
    expect(await serverSays(await issueCertificate(clientCa, { ...loopback, usage: 'server-and-client' }))).toBe('INVALID_PURPOSE');
  });

  it('a client certificate of the client intermediate authenticates (the control)', async () => {
    expect(await clientSays(await issueCertificate(clientCa, { commonName: 'sidecar', usage: 'client' }))).toEqual({ authorized: true, error: undefined });
  });

  it('a serving certificate is refused as a client, even one the serving intermediate minted for clients too', async () => {
    const plain = await clientSays(await issueCertificate(servingCa, { ...loopback, usage: 'server' }));
    expect(plain.authorized).toBe(false);
    const both = await clientSays(await issueCertificate(servingCa, { ...loopback, usage: 'server-and-client' }));
    expect(both).toEqual({ authorized: false, error: 'INVALID_PURPOSE' });
  });
});
