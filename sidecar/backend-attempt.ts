/**
 * One attempt to send a request head to a backend, reporting *when* it failed: before the TLS
 * handshake completed nothing has left the sidecar (the request may go elsewhere); after it, the
 * backend may have received it (it must not be replayed). The body is only written once connected,
 * so it is still unread in the client stream if the attempt fails to connect.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import { request } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Backend } from './upstream-pool.js';

export interface AttemptHandlers {
  /** Connected (TLS done or a pooled socket): write or pipe the body now. */
  connected(req: ClientRequest): void;
  /** Nothing was sent: safe to try another backend. */
  connectFailed(err: NodeJS.ErrnoException): void;
  /** The request may have reached the backend: answer an error, never replay. */
  failedAfterSend(err: NodeJS.ErrnoException): void;
  response(res: IncomingMessage): void;
  upgrade?(res: IncomingMessage, socket: Socket, head: Buffer): void;
}

export class ConnectTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(ms: number) {
    super(`connect timeout after ${ms} ms`);
  }
}

export function startAttempt(
  backend: Backend,
  head: { method: string; path: string; headers: string[]; setHost: boolean },
  connectTimeoutMs: number,
  handlers: AttemptHandlers,
): ClientRequest {
  const req = request({
    agent: backend.agent,
    host: backend.endpoint.host,
    port: backend.endpoint.port,
    method: head.method,
    path: head.path,
    headers: head.headers,
    setHost: head.setHost,
  });
  let connected = false;
  const onConnected = () => {
    connected = true;
    handlers.connected(req);
  };
  req.on('socket', (socket: Socket) => {
    if (req.reusedSocket) {
      onConnected();
      return;
    }
    socket.setNoDelay(true);
    const timer = setTimeout(() => socket.destroy(new ConnectTimeoutError(connectTimeoutMs)), connectTimeoutMs);
    (socket as TLSSocket).once('secureConnect', () => {
      clearTimeout(timer);
      onConnected();
    });
    socket.once('close', () => clearTimeout(timer));
  });
  req.on('error', (err: NodeJS.ErrnoException) => (connected ? handlers.failedAfterSend(err) : handlers.connectFailed(err)));
  req.on('response', handlers.response);
  if (handlers.upgrade) req.on('upgrade', handlers.upgrade);
  return req;
}
