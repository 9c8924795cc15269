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
import type { Backend, ClientCertificateAcceptance } from './upstream-pool.js';

/** How long a new TLS 1.3 connection waits for the server's session ticket before sending anyway. */
const TICKET_WAIT_MS = 1000;

export interface AttemptHandlers {
  /** Connected (TLS done or a pooled socket): write or pipe the body now. */
  connected(req: ClientRequest): void;
  /** Nothing was sent: safe to try another backend. */
  connectFailed(err: NodeJS.ErrnoException): void;
  /** The request may have reached the backend: answer an error, never replay. */
  failedAfterSend(err: NodeJS.ErrnoException): void;
  /**
   * A pooled keep-alive socket turned out closed (reset before any answer) under an idempotent request
   * without a body: the backend closed it idle, so the request can be sent once more, on a new connection.
   */
  staleConnection?(err: NodeJS.ErrnoException): void;
  response(res: IncomingMessage): void;
  upgrade?(res: IncomingMessage, socket: Socket, head: Buffer): void;
}

export class ConnectTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(ms: number) {
    super(`connect timeout after ${ms} ms`);
  }
}

/** Methods a client may send twice (RFC 9110 9.2.2) and that carry no body here. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A reused socket the backend had already closed: reset or hung up before any byte of an answer. */
const isClosedSocket = (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET' || err.code === 'EPIPE';

/**
 * TLS 1.3 lets the client finish the handshake before the server has checked its certificate; a
 * refusal then arrives as an alert or a reset after the request may have been written, which looks
 * like a failure after sending. The server's first session ticket follows its acceptance, so waiting
 * for it keeps a refusal a connect failure (nothing sent: fail over). A refusal before the ticket
 * errors the socket, which reaches the request as an error while still not connected. Servers that
 * send no ticket cost one wait, after which this backend is no longer waited on.
 */
function afterCertificateAccepted(socket: TLSSocket, acceptance: ClientCertificateAcceptance, waitMs: number, proceed: () => void): void {
  let waiting = true;
  const finish = (ticket: boolean) => {
    if (!waiting) return;
    waiting = false;
    clearTimeout(timer);
    socket.off('session', onTicket);
    if (!ticket) acceptance.serverSendsTickets = false;
    if (!socket.destroyed) proceed();
  };
  // The ticket is reported from inside OpenSSL's read of the socket; writing the request from there
  // is lost until the next read, so it is written once that read is over.
  const onTicket = () => {
    clearTimeout(timer);
    setImmediate(() => finish(true));
  };
  const timer = setTimeout(() => finish(false), waitMs);
  socket.on('session', onTicket);
  socket.once('close', () => {
    waiting = false;
    clearTimeout(timer);
  });
}

export function startAttempt(
  backend: Backend,
  head: { method: string; path: string; headers: string[]; setHost: boolean; hasBody?: boolean },
  connectTimeoutMs: number,
  handlers: AttemptHandlers,
  options: { freshConnection?: boolean } = {},
): ClientRequest {
  const req = request({
    ...(options.freshConnection ? { ...backend.tls, agent: false } : { agent: backend.agent }),
    host: backend.endpoint.host,
    port: backend.endpoint.port,
    method: head.method,
    path: head.path,
    headers: head.headers,
    setHost: head.setHost,
  });
  let connected = false;
  let reused = false;
  let answered = false;
  const onConnected = () => {
    connected = true;
    handlers.connected(req);
  };
  req.on('socket', (socket: Socket) => {
    if (req.reusedSocket) {
      reused = true;
      onConnected();
      return;
    }
    socket.setNoDelay(true);
    const timer = setTimeout(() => socket.destroy(new ConnectTimeoutError(connectTimeoutMs)), connectTimeoutMs);
    (socket as TLSSocket).once('secureConnect', () => {
      clearTimeout(timer);
      const acceptance = backend.clientCertificate;
      if (acceptance?.serverSendsTickets && (socket as TLSSocket).getProtocol() === 'TLSv1.3') {
        afterCertificateAccepted(socket as TLSSocket, acceptance, Math.min(TICKET_WAIT_MS, connectTimeoutMs), onConnected);
      } else onConnected();
    });
    socket.once('close', () => clearTimeout(timer));
  });
  req.on('error', (err: NodeJS.ErrnoException) => {
    if (!connected) return handlers.connectFailed(err);
    const retryable = reused && !answered && IDEMPOTENT.has(head.method) && !head.hasBody && isClosedSocket(err);
    if (retryable && handlers.staleConnection) return handlers.staleConnection(err);
    handlers.failedAfterSend(err);
  });
  req.on('response', (res: IncomingMessage) => {
    answered = true;
    handlers.response(res);
  });
  if (handlers.upgrade) req.on('upgrade', handlers.upgrade);
  return req;
}
