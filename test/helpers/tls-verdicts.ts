// What a TLS peer says of a certificate in a real handshake (OpenSSL): as a server, or as a client.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { CertificateAndKey } from '../../lib/tls/pki.js';

/** Serves `pair` once and connects trusting `trustPem` only: undefined when the client accepts, else its error code (or message). */
export async function serverVerdict(pair: CertificateAndKey, trustPem: string): Promise<string | undefined> {
  const server = createServer({ cert: pair.certPem, key: pair.keyPem }, (socket) => socket.end());
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    return await new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ca: trustPem }, () => {
        resolve(undefined);
        socket.destroy();
      });
      // Node has no code for some OpenSSL verify errors (a name constraint violated is UNSPECIFIED): their message says it.
      socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'UNSPECIFIED' ? err.message : (err.code ?? err.message)));
    });
  } finally {
    server.close();
  }
}

/** Presents `client` to a server (serving `serving`, trusting `trustPem`) that asks for a certificate: the server's verdict. */
export async function clientVerdict(client: CertificateAndKey, serving: CertificateAndKey, trustPem: string): Promise<{ authorized: boolean; error?: string }> {
  const server = createServer({ cert: serving.certPem, key: serving.keyPem, ca: trustPem, requestCert: true, rejectUnauthorized: false });
  const verdict = once(server, 'secureConnection').then(([socket]) => {
    const s = socket as TLSSocket;
    const result = { authorized: s.authorized, error: s.authorizationError ? String(s.authorizationError) : undefined };
    s.destroy();
    return result;
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const socket = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ca: trustPem, cert: client.certPem, key: client.keyPem });
  // The client refusing the server would leave the server without a verdict: say so instead of waiting.
  const refused = once(socket, 'error').then(([err]) => ({ authorized: false, error: `client: ${(err as NodeJS.ErrnoException).code}` }));
  try {
    return await Promise.race([verdict, refused]);
  } finally {
    socket.destroy();
    server.close();
  }
}
