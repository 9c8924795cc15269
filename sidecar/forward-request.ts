/**
 * The hot path: one HTTP request from the workload to a backend and its response back, streamed
 * both ways with backpressure. Watches get their headers and every event flushed as they arrive;
 * when the client goes away the backend request is destroyed at once (its socket is not pooled).
 * With local routing, a write to a shard sent to the local source API server is buffered first
 * (sidecar/local-write.ts): if the source's fence refuses it, it never executed, and it is sent once
 * more through the aggregator after the routing table was fetched again. A local request to a shard
 * with a resourceVersion offset is rewritten both ways on its local attempt only (sidecar/offset-rewrite.ts);
 * any attempt through the aggregator carries what the client sent.
 */
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { clientResponseHeaders, headerValue, scanRequestHead, upstreamRequestHeaders } from '../lib/proxy/headers.js';
import { readBody } from '../lib/proxy/read-body.js';
import { isFenceRefusal } from '../lib/routing/fence-message.js';
import type { RequestHead, UpstreamChoice } from './upstream-selector.js';
import { startAttempt, type AttemptHandlers } from './backend-attempt.js';
import { backendFor, badGatewayResponse, planAttempt, unavailableResponse, type ForwardContext } from './forward-context.js';
import { isLongRunning } from './in-flight.js';
import { boundLocalWrite, contentLength, MAX_REFUSAL_BYTES } from './local-write.js';
import { ANSWERED, boundOffsetWrite, OffsetRewrite, TO_AGGREGATOR } from './offset-rewrite.js';
import type { Backend, BackendName } from './upstream-pool.js';

const FENCE_RETRY: UpstreamChoice = Object.freeze({ target: 'upstream', reason: 'fence-retry' });
const IDENTITY_STEP: UpstreamChoice = Object.freeze({ target: 'upstream', reason: 'offset-identity-step' });

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

/** One client request through the sidecar: its attempts (fail-over, a stale pooled socket, a fenced write) and the answer. */
class Exchange {
  private attempt: ClientRequest | undefined;
  private clientGone = false;
  private readonly cleanups: Array<() => void> = [];
  private retriedStale = false;
  private fenceRetried = false;
  /** The buffered body of a local write to a shard (sent again if fenced). */
  private body: Buffer | undefined;
  private readonly hasHost: boolean;
  private readonly hasBody: boolean;
  private readonly headers: string[];
  private choice: UpstreamChoice;
  /** The local attempt's rewriting, for a shard whose epoch has an offset. */
  private offset: OffsetRewrite | undefined;

  constructor(
    private readonly ctx: ForwardContext,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    ({ hasHost: this.hasHost, hasBody: this.hasBody } = scanRequestHead(req.rawHeaders));
    this.headers = upstreamRequestHeaders(req.rawHeaders, ctx.identity);
    const selected = ctx.selector.select(req as { method: string; url: string });
    const bounded = boundLocalWrite(selected, this.hasBody, contentLength(req.rawHeaders), ctx.localWriteMaxBytes);
    this.choice = bounded.codec ? boundOffsetWrite(bounded, this.hasBody, req.rawHeaders) : bounded;
    ctx.metrics.chosen(this.choice.target, this.choice.reason);
    res.once('close', () => {
      ctx.inFlight.end();
      for (const cleanup of this.cleanups) cleanup();
      if (!res.writableFinished) {
        this.clientGone = true;
        this.attempt?.destroy();
      }
    });
  }

  begin(): void {
    if (this.choice.codec) {
      const offset = OffsetRewrite.begin(this.choice.codec, this.req.method!, this.req.url!, this.headers, this.res);
      if (offset === ANSWERED) return;
      this.offset = offset;
    }
    if (!(this.choice.fenceable && this.hasBody)) return this.send();
    // The length was checked against the bound (boundLocalWrite), so the whole body fits.
    readBody(this.req, this.ctx.localWriteMaxBytes).then(
      (body) => {
        if (this.clientGone) return;
        this.body = body ?? Buffer.alloc(0);
        const rewritten = this.offset?.rewriteBody(this.body, this.res);
        if (rewritten === ANSWERED) return;
        if (rewritten === TO_AGGREGATOR) this.switchToAggregator(IDENTITY_STEP);
        this.send();
      },
      () => this.res.destroy(),
    );
  }

  private send(connectFailed?: BackendName, retryOn?: BackendName): void {
    const decision = retryOn ? { target: retryOn } : planAttempt(this.ctx, this.choice, this.req as RequestHead, false, connectFailed);
    if (decision.target === 'reject') return answer(this.res, 503, unavailableResponse(decision.reason));
    const backend = backendFor(this.ctx, decision.target);
    const offset = this.localOffset(backend);
    const path = offset ? offset.path : this.req.url!;
    const head = { method: this.req.method!, path, headers: offset ? offset.localHeaders() : this.headers, setHost: !this.hasHost, hasBody: this.hasBody };
    // The one retry goes on a new connection: the pool may hold more sockets the backend closed.
    this.attempt = startAttempt(backend, head, this.ctx.connectTimeoutMs, this.handlers(backend), { freshConnection: retryOn !== undefined });
  }

  /** The rewriting of an attempt: only a local attempt of an offset shard's request is rewritten. */
  private localOffset(backend: Backend): OffsetRewrite | undefined {
    return backend.name === 'local' ? this.offset : undefined;
  }

  private handlers(backend: Backend): AttemptHandlers {
    const { ctx, req } = this;
    const failedAfterSend = (err: NodeJS.ErrnoException) => {
      if (this.clientGone) return;
      ctx.metrics.backendFailure(backend.name, 'after-send');
      ctx.log.warn({ backend: backend.name, err: err.code ?? err.message, method: req.method }, 'backend failed after the request was sent; not replayed');
      answer(this.res, 502, badGatewayResponse(err));
    };
    return {
      connected: (upstreamReq) => {
        if (backend.name === 'upstream') ctx.health.connected();
        if (this.body) upstreamReq.end(this.localOffset(backend)?.localBody ?? this.body);
        else if (this.hasBody) req.pipe(upstreamReq);
        else upstreamReq.end();
      },
      connectFailed: (err) => {
        if (this.clientGone) return;
        ctx.metrics.backendFailure(backend.name, 'connect');
        if (backend.name === 'upstream') ctx.health.connectFailed(err);
        ctx.log.debug({ backend: backend.name, err: err.code ?? err.message }, 'backend connect failed; nothing was sent');
        this.send(backend.name);
      },
      staleConnection: (err) => {
        if (this.clientGone) return;
        if (this.retriedStale) return failedAfterSend(err);
        this.retriedStale = true;
        ctx.log.debug({ backend: backend.name, err: err.code }, 'a pooled connection was closed by the backend; sending once more');
        this.send(undefined, backend.name);
      },
      failedAfterSend,
      response: (upstreamRes) => {
        if (this.clientGone) return void upstreamRes.destroy();
        if (backend.name === 'local' && upstreamRes.statusCode === 403) {
          // A write sent locally in the unreachable upstream's place: a shard that moved after the last table the sidecar has.
          if (this.choice.target === 'upstream') return this.judgeRefusal(upstreamRes, backend, 'fallback');
          if (this.choice.fenceable && !this.fenceRetried) return this.judgeRefusal(upstreamRes, backend, 'local-write');
        }
        this.relay(upstreamRes, backend);
      },
    };
  }

  /**
   * A 403 to a local shard write: the fence's refusal is retried through the aggregator (a fallback's,
   * with the aggregator unreachable: 503, as the write never executed), any other is the answer.
   */
  private judgeRefusal(upstreamRes: IncomingMessage, backend: Backend, sentAs: 'local-write' | 'fallback'): void {
    readBody(upstreamRes, MAX_REFUSAL_BYTES).then(
      (refusal) => {
        if (this.clientGone) return;
        if (!refusal) return answer(this.res, 502, badGatewayResponse(new Error('the source API server refused the write with an oversized body')));
        if (!isFenceRefusal(403, refusal, headerValue(upstreamRes.rawHeaders, 'content-encoding'))) {
          const offset = this.localOffset(backend);
          if (offset) return offset.sendBufferedAnswer(upstreamRes, refusal, this.res);
          this.res.writeHead(403, upstreamRes.statusMessage, clientResponseHeaders(upstreamRes.rawHeaders)).end(refusal);
          return;
        }
        if (sentAs === 'fallback') {
          return answer(this.res, 503, unavailableResponse('moved-shard-unavailable'));
        }
        this.fenceRetried = true;
        this.ctx.metrics.fenceRetry();
        this.ctx.log.info(
          { shard: this.choice.shard, method: this.req.method },
          "the source's fence refused a local write: refreshing the routing table, sending it through the aggregator",
        );
        void this.retryThroughAggregator();
      },
      (err: unknown) => !this.clientGone && answer(this.res, 502, badGatewayResponse(err)),
    );
  }

  /** From now on the request goes to the aggregator as the client sent it (no local rewriting). */
  private switchToAggregator(choice: UpstreamChoice): void {
    this.choice = choice;
    this.offset = undefined;
    this.ctx.metrics.chosen(choice.target, choice.reason);
  }

  private async retryThroughAggregator(): Promise<void> {
    // The retry does not wait on the refresh for long: the aggregator routes by its own table anyway.
    const timer = new AbortController();
    await Promise.race([this.ctx.selector.refresh?.(), sleep(this.ctx.connectTimeoutMs, undefined, { signal: timer.signal }).catch(() => undefined)]);
    timer.abort();
    if (this.clientGone) return;
    this.switchToAggregator(FENCE_RETRY);
    this.send();
  }

  private relay(upstreamRes: IncomingMessage, backend: Backend): void {
    const { ctx, req, res } = this;
    const offset = this.localOffset(backend);
    const body = offset ? offset.answer(upstreamRes, res, ctx.inFlight.draining ? ['Connection', 'close'] : []) : upstreamRes;
    if (!body) return; // answered whole, rewritten
    const responseHeaders = clientResponseHeaders(upstreamRes.rawHeaders);
    if (ctx.inFlight.draining) responseHeaders.push('Connection', 'close');
    res.writeHead(upstreamRes.statusCode!, upstreamRes.statusMessage, responseHeaders);
    if (!hasContentLength(upstreamRes.rawHeaders)) {
      // Streaming (watch, follow, chunked list): send headers now so a quiet watch is established.
      res.flushHeaders();
      if (isLongRunning(req.url!)) {
        const close = () => {
          body.unpipe(res);
          this.attempt?.destroy();
          res.end();
        };
        this.cleanups.push(ctx.inFlight.addLongRunning(close));
        // A local watch on a shard ends when the shard stops being served locally in its epoch (local-routing.ts).
        if (backend.name === 'local' && this.choice.shard && ctx.selector.trackLocalStream) {
          this.cleanups.push(ctx.selector.trackLocalStream(this.choice.shard, this.choice.codec?.current.epoch ?? 0, close));
        }
      }
    }
    upstreamRes.on('close', () => {
      if (!upstreamRes.complete && !res.writableEnded) res.destroy();
    });
    body.pipe(res);
  }
}

export function createRequestForwarder(ctx: ForwardContext) {
  return function forwardRequest(req: IncomingMessage, res: ServerResponse): void {
    res.sendDate = false; // the backend's Date header passes through
    ctx.inFlight.begin();
    new Exchange(ctx, req, res).begin();
  };
}
