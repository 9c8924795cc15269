/**
 * A stand-in for the kubelet's streaming endpoints (exec, attach, port-forward) that speaks both
 * handshakes the API server proxies: WebSocket (`v5.channel.k8s.io` and friends, via `ws`) and
 * `SPDY/3.1` (the 101 response kube-apiserver gives; what follows is raw bytes to a proxy). After the
 * switch it echoes every byte it receives and, on request, sends a large stream of its own, keeping a
 * SHA-256 of what it got so tests can prove both directions arrived intact.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { once } from 'node:events';
import { WebSocketServer } from 'ws';

export const K8S_WS_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'channel.k8s.io'];
export const SPDY_PROTOCOL = 'SPDY/3.1';

export interface UpgradeTestServer {
  port: number;
  server: Server;
  /** Bytes received after the switch, per connection, as SHA-256 hex and length. */
  received: Array<{ protocol: string; sha256: string; bytes: number }>;
  /** Upgrade requests the server saw (path + headers), for header assertions. */
  handshakes: Array<{ url: string; rawHeaders: string[] }>;
  close(): Promise<void>;
}

export async function startUpgradeTestServer(tls: { certPem: string; keyPem: string }): Promise<UpgradeTestServer> {
  const received: UpgradeTestServer['received'] = [];
  const handshakes: UpgradeTestServer['handshakes'] = [];
  const server = createServer({ cert: tls.certPem, key: tls.keyPem });
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => K8S_WS_PROTOCOLS.find((p) => offered.has(p)) ?? false });
  const sockets = new Set<Duplex>();

  server.on('request', (_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    handshakes.push({ url: req.url!, rawHeaders: req.rawHeaders });
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (req.url!.includes('dies-mid-refusal')) {
      // A refusal whose body never completes: the backend goes away after half of it.
      socket.write('HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"code":');
      setTimeout(() => socket.destroy(), 50);
      return;
    }
    if (req.url!.includes('forbidden')) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{"code":403000}');
      return;
    }
    if (upgrade === 'websocket') {
      wss.handleUpgrade(req, socket, head, (ws) => {
        const hash = createHash('sha256');
        let bytes = 0;
        ws.on('message', (data: Buffer, isBinary) => {
          if (!isBinary && data.toString() === 'done') {
            received.push({ protocol: ws.protocol, sha256: hash.digest('hex'), bytes });
            ws.close(1000);
            return;
          }
          hash.update(data);
          bytes += data.length;
          ws.send(data, { binary: true });
        });
      });
      return;
    }
    if (req.url!.includes('half-close')) {
      // Like `cat | wc -c` behind exec: reads until the client's end of input, then answers and closes.
      (socket as Duplex & { allowHalfOpen: boolean }).allowHalfOpen = true;
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${SPDY_PROTOCOL}\r\n\r\n`);
      let bytes = head.length;
      socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
      socket.on('end', () => socket.end(`received ${bytes} bytes`));
      return;
    }
    if (upgrade === SPDY_PROTOCOL.toLowerCase()) {
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${SPDY_PROTOCOL}\r\nX-Stream-Protocol-Version: ${req.headers['x-stream-protocol-version'] ?? 'v4.channel.k8s.io'}\r\n\r\n`,
      );
      const hash = createHash('sha256');
      let bytes = 0;
      const onData = (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
        if (!socket.write(chunk)) {
          socket.pause();
          socket.once('drain', () => socket.resume());
        }
      };
      if (head.length > 0) onData(head);
      socket.on('data', onData);
      socket.on('close', () => received.push({ protocol: SPDY_PROTOCOL, sha256: hash.digest('hex'), bytes }));
      return;
    }
    socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    server,
    received,
    handshakes,
    async close() {
      for (const socket of sockets) socket.destroy();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
