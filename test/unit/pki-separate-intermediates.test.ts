// Serving and client certificates come from separate intermediates of one root (issue 21): a client
// certificate never serves and a serving certificate never authenticates, even one minted with both
// usages by whoever holds the other intermediate's key. Real X.509 and real TLS handshakes (OpenSSL).
import { beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { generateCa, generateIntermediateCa, issueCertificate, splitPemBundle, trustAnchors, type CertificateAndKey } from '../../lib/pki.js';

let root: CertificateAndKey;
let servingCa: CertificateAndKey;
let clientCa: CertificateAndKey;

const loopback = { commonName: 'peer', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] };

beforeAll(async () => {
  root = await generateCa('separation-root');
  [servingCa, clientCa] = await Promise.all([generateIntermediateCa(root, 'serving', 'server'), generateIntermediateCa(root, 'client', 'client')]);
});

/** Serves `pair` once and connects trusting the root only: the client's verdict on the server. */
async function serverVerdict(pair: CertificateAndKey): Promise<string | undefined> {
  const server = createServer({ cert: pair.certPem, key: pair.keyPem }, (socket) => socket.end());
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    return await new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ca: trustAnchors(root.certPem) }, () => {
        resolve(undefined);
        socket.destroy();
      });
      socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
  } finally {
    server.close();
  }
}

/** Presents `pair` as a client certificate to a server that trusts the root: the server's verdict. */
async function clientVerdict(pair: CertificateAndKey): Promise<{ authorized: boolean; error?: string }> {
  const serving = await issueCertificate(servingCa, { ...loopback, usage: 'server' });
  const server = createServer({ cert: serving.certPem, key: serving.keyPem, ca: trustAnchors(root.certPem), requestCert: true, rejectUnauthorized: false });
  const verdict = once(server, 'secureConnection').then(([socket]) => {
    const s = socket as TLSSocket;
    const result = { authorized: s.authorized, error: s.authorizationError ? String(s.authorizationError) : undefined };
    s.destroy();
    return result;
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const socket = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ca: root.certPem, cert: pair.certPem, key: pair.keyPem });
  // The client refusing the server would leave the server without a verdict: say so instead of waiting.
  const refused = once(socket, 'error').then(([err]) => ({ authorized: false, error: `client: ${(err as NodeJS.ErrnoException).code}` }));
  try {
    return await Promise.race([verdict, refused]);
  } finally {
    socket.destroy();
    server.close();
  }
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
    expect(await serverVerdict(await issueCertificate(servingCa, { ...loopback, usage: 'server' }))).toBeUndefined();
  });

  it('a client certificate is refused as a server, even one the client intermediate minted for serving too', async () => {
    expect(await serverVerdict(await issueCertificate(clientCa, { ...loopback, usage: 'client' }))).toBe('INVALID_PURPOSE');
    // The leaf allows serving; its intermediate does not, and the verifier checks the whole chain.
    expect(await serverVerdict(await issueCertificate(clientCa, { ...loopback, usage: 'server-and-client' }))).toBe('INVALID_PURPOSE');
  });

  it('a client certificate of the client intermediate authenticates (the control)', async () => {
    expect(await clientVerdict(await issueCertificate(clientCa, { commonName: 'sidecar', usage: 'client' }))).toEqual({ authorized: true, error: undefined });
  });

  it('a serving certificate is refused as a client, even one the serving intermediate minted for clients too', async () => {
    const plain = await clientVerdict(await issueCertificate(servingCa, { ...loopback, usage: 'server' }));
    expect(plain.authorized).toBe(false);
    const both = await clientVerdict(await issueCertificate(servingCa, { ...loopback, usage: 'server-and-client' }));
    expect(both).toEqual({ authorized: false, error: 'INVALID_PURPOSE' });
  });
});
