/**
 * Connection upgrades (exec, attach, port-forward over WebSocket `v5.channel.k8s.io` and friends,
 * or `SPDY/3.1`): the request head goes to the backend like any request; once it answers 101 the
 * two sockets are piped raw in both directions, whatever protocol they speak.
 */
import type { RequestHead } from './upstream-selector.js';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { clientResponseHeaders, rawResponseHead, scanRequestHead, upstreamRequestHeaders } from '../lib/proxy/headers.js';
import { pipeBothWays } from '../lib/proxy/pipe-both-ways.js';
import { startAttempt } from './backend-attempt.js';
import { backendFor, badGatewayResponse, planAttempt, unavailableResponse, type ForwardContext } from './forward-context.js';
import { boundOffsetUpgrade } from './offset-rewrite.js';

const MAX_REFUSAL_BODY_BYTES = 64 * 1024;

function withoutContentLength(rawHeaders: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() !== 'content-length') out.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  }
  return out;
}

function writeResponseAndClose(socket: Duplex, status: number, message: string, headers: string[], body: Buffer | string): void {
  if (socket.destroyed) return;
  const length = Buffer.byteLength(body);
  socket.write(rawResponseHead(status, message, [...withoutContentLength(headers), 'Content-Length', String(length), 'Connection', 'close']));
  socket.end(body);
}

function statusToSocket(socket: Duplex, status: number, response: { body: string; headers: Record<string, string | number> }): void {
  const headers = Object.entries(response.headers).flatMap(([name, value]) => [name, String(value)]);
  writeResponseAndClose(socket, status, status === 503 ? 'Service Unavailable' : 'Bad Gateway', headers, response.body);
}

export function createUpgradeForwarder(ctx: ForwardContext) {
  return function forwardUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { hasHost } = scanRequestHead(req.rawHeaders);
    const headers = upstreamRequestHeaders(req.rawHeaders, ctx.identity, req.headers.upgrade ?? '');
    const choice = boundOffsetUpgrade(ctx.selector.select(req as { method: string; url: string }));
    ctx.metrics.chosen(choice.target, choice.reason);
    let attempt: ClientRequest | undefined;
    let upgraded = false;
    ctx.inFlight.addUpgraded(socket as never);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      if (!upgraded) attempt?.destroy();
    });

    const send = (connectFailed?: 'upstream' | 'local') => {
      const decision = planAttempt(ctx, choice, req as RequestHead, true, connectFailed);
      if (decision.target === 'reject') return statusToSocket(socket, 503, unavailableResponse(decision.reason));
      const backend = backendFor(ctx, decision.target);
      attempt = startAttempt(backend, { method: req.method!, path: req.url!, headers, setHost: !hasHost }, ctx.connectTimeoutMs, {
        connected(upstreamReq) {
          if (backend.name === 'upstream') ctx.health.connected();
          upstreamReq.end();
        },
        connectFailed(err) {
          if (socket.destroyed) return;
          ctx.metrics.backendFailure(backend.name, 'connect');
          if (backend.name === 'upstream') ctx.health.connectFailed(err);
          send(backend.name);
        },
        failedAfterSend(err) {
          if (upgraded || socket.destroyed) return;
          ctx.metrics.backendFailure(backend.name, 'after-send');
          statusToSocket(socket, 502, badGatewayResponse(err));
        },
        upgrade(upstreamRes, upstreamSocket, upstreamHead) {
          if (socket.destroyed) return void upstreamSocket.destroy();
          upgraded = true;
          upstreamSocket.setTimeout(0);
          upstreamSocket.setNoDelay(true);
          // 101 keeps its Connection/Upgrade headers: the client needs them to switch protocols.
          socket.write(rawResponseHead(upstreamRes.statusCode!, upstreamRes.statusMessage ?? 'Switching Protocols', upstreamRes.rawHeaders));
          if (upstreamHead.length > 0) socket.write(upstreamHead);
          if (head.length > 0) upstreamSocket.write(head);
          // A client that ends its input (stdin EOF) must still get what the process writes after it:
          // without this Node ends the other direction too as soon as one side's FIN arrives.
          (socket as Duplex & { allowHalfOpen: boolean }).allowHalfOpen = true;
          (upstreamSocket as Duplex & { allowHalfOpen: boolean }).allowHalfOpen = true;
          pipeBothWays(socket, upstreamSocket);
        },
        response(upstreamRes) {
          // The backend refused to switch (403, 400...): relay its answer and close.
          const chunks: Buffer[] = [];
          let size = 0;
          upstreamRes.on('data', (chunk: Buffer) => {
            size += chunk.length;
            // A refusal is a short Status body; anything huge is not worth holding in a per-pod proxy.
            if (size > MAX_REFUSAL_BODY_BYTES) upstreamRes.destroy();
            else chunks.push(chunk);
          });
          // A backend that dies mid-body never emits 'end'. Nothing reached the client yet (the refusal
          // is buffered), so it gets a whole 502 Status saying so rather than a bare close.
          upstreamRes.on('close', () => {
            if (upstreamRes.complete || socket.destroyed) return;
            ctx.metrics.backendFailure(backend.name, 'after-send');
            statusToSocket(
              socket,
              502,
              badGatewayResponse(new Error(`the backend closed the connection in the middle of its ${upstreamRes.statusCode} answer`)),
            );
          });
          upstreamRes.on('end', () =>
            writeResponseAndClose(
              socket,
              upstreamRes.statusCode!,
              upstreamRes.statusMessage ?? '',
              clientResponseHeaders(upstreamRes.rawHeaders),
              Buffer.concat(chunks),
            ),
          );
        },
      });
    };
    send();
  };
}
