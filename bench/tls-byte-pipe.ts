/**
 * The smallest design the sidecar could shrink to (benchmark peer, not product): terminate the
 * client's TLS and copy bytes to one TLS connection to the API server per client connection, with no
 * HTTP parsing and so no per-request decision (no fail-over, no routing, no identity headers). It
 * shows what Node itself costs on this path. Env: PIPE_PORT, PIPE_TLS_DIR (tls.crt, tls.key,
 * ca.crt), PIPE_UPSTREAM (https://host:port).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';

const dir = process.env.PIPE_TLS_DIR!;
const upstream = new URL(process.env.PIPE_UPSTREAM!);
const ca = readFileSync(join(dir, 'ca.crt'));
let session: Buffer | undefined; // TLS session reuse toward the API server, as the sidecar's pool does

const server = createServer({ cert: readFileSync(join(dir, 'tls.crt')), key: readFileSync(join(dir, 'tls.key')) }, (client: TLSSocket) => {
  client.setNoDelay(true);
  const backend = connect({ host: upstream.hostname, port: Number(upstream.port), ca, servername: 'localhost', session, ALPNProtocols: ['http/1.1'] });
  backend.setNoDelay(true);
  backend.on('session', (s: Buffer) => (session = s));
  client.pipe(backend).pipe(client);
  const close = () => {
    client.destroy();
    backend.destroy();
  };
  client.on('error', close);
  backend.on('error', close);
  client.on('close', close);
  backend.on('close', close);
});
server.listen(Number(process.env.PIPE_PORT), '127.0.0.1');
