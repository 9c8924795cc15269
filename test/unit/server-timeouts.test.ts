// The clocks of the aggregator's and the sidecar's API servers (lib/proxy/server-timeouts.ts), on a real
// Node server with shortened bounds: a client that dribbles its headers or its body is cut off with
// 408, while a response that streams for longer than every bound (a watch) is not.
import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { applyServerTimeouts, DEFAULT_SERVER_TIMEOUTS, serverTimeoutOptions } from '../../lib/proxy/server-timeouts.js';

const SHORT = { requestTimeoutMs: 1_500, headersTimeoutMs: 1_000, checkIntervalMs: 100 };
let server: Server | undefined;

afterEach(async () => {
  if (!server) return;
  const closing = server;
  server = undefined;
  closing.closeAllConnections();
  await new Promise((resolve) => closing.close(resolve));
});

async function start(handler: Parameters<typeof createServer>[1]): Promise<number> {
  server = createServer(serverTimeoutOptions(SHORT), handler);
  applyServerTimeouts(server, SHORT);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Writes `parts` one per `gapMs` and returns everything the server answered until it closed. */
async function dribble(port: number, parts: string[], gapMs: number): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  let answer = '';
  socket.on('data', (c: Buffer) => (answer += c.toString()));
  socket.on('error', () => undefined);
  const closed = once(socket, 'close');
  for (const part of parts) {
    if (socket.destroyed) break;
    socket.write(part);
    await sleep(gapMs);
  }
  await Promise.race([closed, sleep(5_000)]);
  socket.destroy();
  return answer;
}

describe('server timeouts', () => {
  it('are on by default (requestTimeout is no longer 0)', () => {
    expect(DEFAULT_SERVER_TIMEOUTS.requestTimeoutMs).toBeGreaterThan(0);
    expect(DEFAULT_SERVER_TIMEOUTS.headersTimeoutMs).toBeGreaterThan(0);
    expect(DEFAULT_SERVER_TIMEOUTS.headersTimeoutMs).toBeLessThanOrEqual(DEFAULT_SERVER_TIMEOUTS.requestTimeoutMs);
  });

  it('a client that never finishes its headers gets 408', async () => {
    const port = await start((_req, res) => res.end('served'));
    const answer = await dribble(port, ['GET / HTTP/1.1\r\n', 'Host: x\r\n', 'X-A: 1\r\n', 'X-B: 1\r\n', 'X-C: 1\r\n'], 500);
    expect(answer).toMatch(/^HTTP\/1.1 408/);
  });

  it('a client that never finishes its body gets 408', async () => {
    const port = await start((req, res) => {
      req.resume();
      req.on('end', () => res.end('served'));
    });
    const answer = await dribble(port, ['PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n', 'a', 'b', 'c', 'd', 'e', 'f'], 500);
    expect(answer).toMatch(/^HTTP\/1.1 408/);
  });

  it('a response may stream for longer than every bound', async () => {
    const port = await start((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      let n = 0;
      const tick = setInterval(() => {
        res.write(`event ${++n}\n`);
        if (n === 6) {
          clearInterval(tick);
          res.end();
        }
      }, 500);
    });
    const answer = await dribble(port, ['GET /watch HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], 10);
    expect(answer).toMatch(/^HTTP\/1.1 200/);
    expect(answer).toContain('event 6');
  });

  it('an upgraded connection (exec, a WebSocket watch) may live longer than every bound', async () => {
    await start((_req, res) => res.end('not upgraded'));
    server!.on('upgrade', (_req, socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n');
      let n = 0;
      const tick = setInterval(() => {
        socket.write(`frame ${++n}\n`);
        if (n === 6) {
          clearInterval(tick);
          socket.end();
        }
      }, 500);
    });
    const port = (server!.address() as AddressInfo).port;
    const answer = await dribble(port, ['GET /exec HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n'], 10);
    expect(answer).toMatch(/^HTTP\/1.1 101/);
    expect(answer).toContain('frame 6');
  });
});
