/**
 * The hot path: one HTTP request from the workload to a backend and its response back, streamed
 * both ways with backpressure. Watches get their headers and every event flushed as they arrive;
 * when the client goes away the backend request is destroyed at once (its socket is not pooled).
 */
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import { clientResponseHeaders, scanRequestHead, upstreamRequestHeaders } from '../lib/proxy-headers.js';
import { startAttempt } from './backend-attempt.js';
import { backendFor, badGatewayResponse, route, unavailableResponse, type ForwardContext } from './forward-context.js';
import { isLongRunning } from './in-flight.js';

function hasContentLength(rawHeaders: readonly string[]): boolean {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.length === 14 && rawHeaders[i]!.toLowerCase() === 'content-length') return true;
  }
  return false;
}

function answer(res: ServerResponse, status: number, response: { body: string; headers: Record<string, string | number> }): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, response.headers).end(response.body);
}

export function createRequestForwarder(ctx: ForwardContext) {
  return function forwardRequest(req: IncomingMessage, res: ServerResponse): void {
    res.sendDate = false; // the backend's Date header passes through
    ctx.inFlight.begin();
    const { hasHost, hasBody } = scanRequestHead(req.rawHeaders);
    const headers = upstreamRequestHeaders(req.rawHeaders, ctx.identity);
    const choice = ctx.selector.select(req as { method: string; url: string });
    let attempt: ClientRequest | undefined;
    let clientGone = false;
    let unregister: (() => void) | undefined;

    res.once('close', () => {
      ctx.inFlight.end();
      unregister?.();
      if (!res.writableFinished) {
        clientGone = true;
        attempt?.destroy();
      }
    });

    let retriedStale = false;
    const send = (connectFailed?: 'upstream' | 'local', retryOn?: 'upstream' | 'local') => {
      const decision = retryOn ? { target: retryOn } : route(ctx, choice, false, connectFailed);
      if (decision.target === 'reject') {
        answer(res, 503, unavailableResponse(decision.reason));
        return;
      }
      const backend = backendFor(ctx, decision.target);
      const head = { method: req.method!, path: req.url!, headers, setHost: !hasHost, hasBody };
      attempt = startAttempt(
        backend,
        head,
        ctx.connectTimeoutMs,
        {
          connected(upstreamReq) {
            if (backend.name === 'upstream') ctx.health.connected();
            if (hasBody) req.pipe(upstreamReq);
            else upstreamReq.end();
          },
          connectFailed(err) {
            if (clientGone) return;
            ctx.metrics.backendFailure(backend.name, 'connect');
            if (backend.name === 'upstream') ctx.health.connectFailed(err);
            ctx.log.debug({ backend: backend.name, err: err.code ?? err.message }, 'backend connect failed; nothing was sent');
            send(backend.name);
          },
          staleConnection(err) {
            if (clientGone) return;
            if (retriedStale) return this.failedAfterSend(err);
            retriedStale = true;
            ctx.log.debug({ backend: backend.name, err: err.code }, 'a pooled connection was closed by the backend; sending once more');
            send(undefined, backend.name);
          },
          failedAfterSend(err) {
            if (clientGone) return;
            ctx.metrics.backendFailure(backend.name, 'after-send');
            ctx.log.warn(
              { backend: backend.name, err: err.code ?? err.message, method: req.method },
              'backend failed after the request was sent; not replayed',
            );
            answer(res, 502, badGatewayResponse(err));
          },
          response(upstreamRes) {
            if (clientGone) return void upstreamRes.destroy();
            const responseHeaders = clientResponseHeaders(upstreamRes.rawHeaders);
            if (ctx.inFlight.draining) responseHeaders.push('Connection', 'close');
            res.writeHead(upstreamRes.statusCode!, upstreamRes.statusMessage, responseHeaders);
            if (!hasContentLength(upstreamRes.rawHeaders)) {
              // Streaming (watch, follow, chunked list): send headers now so a quiet watch is established.
              res.flushHeaders();
              if (isLongRunning(req.url!)) {
                unregister = ctx.inFlight.addLongRunning(() => {
                  upstreamRes.unpipe(res);
                  attempt?.destroy();
                  res.end();
                });
              }
            }
            upstreamRes.on('close', () => {
              if (!upstreamRes.complete && !res.writableEnded) res.destroy();
            });
            upstreamRes.pipe(res);
          },
        },
        // The one retry goes on a new connection: the pool may hold more sockets the backend closed.
        { freshConnection: retryOn !== undefined },
      );
    };
    send();
  };
}
