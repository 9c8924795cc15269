/**
 * One API request through the aggregator: the steps that decide it (steps.ts: parse, route,
 * authenticate, rewrite), then forward: the body (write-body.ts), the backend call, and the answer
 * streamed back with a moved shard's resourceVersions rewritten. Shards in epoch 0 (never moved) are
 * piped untouched, so before a rollout the aggregator adds only a hop. Upgrades: upgrade.ts.
 */
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'node:https';
import { BridgeError, errorMessage } from '../../lib/errors.js';
import { clientResponseHeaders } from '../../lib/proxy/headers.js';
import { WRITE_VERBS } from '../../lib/routing/request-info.js';
import { shardKey } from '../../lib/routing/shard-hash.js';
import { responseRVMapper } from '../../lib/routing/resource-version.js';
import { responseRewrite, sendRewritten } from '../../lib/routing/rewritten-response.js';
import { WatchRVRewriter } from '../../lib/routing/watch-rewriter.js';
import { backendUnavailable, sendStatus } from '../../lib/routing/status-responses.js';
import { backendAddress } from './backend-call.js';
import { backendHeaders } from './backend-headers.js';
import { answerRefusal } from './refusals.js';
import { serveMergedRead } from './merged-read.js';
import { isMerged, isRefused, type MergedPrepared, type Prepared, type ProxyContext, type Refused } from './request-context.js';
import { countRequest } from './request-counter.js';
import { jsonReadHeaders, shadowPath } from './shadow-reads.js';
import { callerForDestination, prepare } from './steps.js';
import { answeredSourceFirst, rewrittenWriteBody } from './write-body.js';

/** After the client has the source's answer: the same read from both clusters, compared (shadow-reads.ts). */
async function shadowRead(ctx: ProxyContext, req: IncomingMessage, prepared: Prepared, path: string): Promise<void> {
  const shard = prepared.decision.shard!;
  const impersonate = await callerForDestination(ctx, req, prepared.info, prepared.impersonation);
  if (impersonate instanceof BridgeError) return ctx.metrics.shadowRead(shard, 'error');
  const headers = {
    source: jsonReadHeaders(backendHeaders(req.rawHeaders, 'source', [], ctx.clusters.source, false)),
    destination: jsonReadHeaders(backendHeaders(req.rawHeaders, 'destination', impersonate, ctx.clusters.destination, false)),
  };
  await ctx.shadow!.compare({ shard, type: shardKey(prepared.info.apiGroup, prepared.info.resource), path, headers });
}

export function createAggregatorHandler(ctx: ProxyContext) {
  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    let outcome: Prepared | MergedPrepared | Refused;
    try {
      outcome = await prepare(ctx, req);
    } catch (err) {
      ctx.log.error({ err: errorMessage(err) }, 'request preparation failed');
      sendStatus(res, 500, 'InternalError', 'the cluster-bridge aggregator failed to route the request');
      return;
    }
    if (isRefused(outcome)) return answerRefusal(res, outcome.refused);
    if (isMerged<MergedPrepared>(outcome)) return serveMerged(ctx, res, outcome, started);
    const body = await rewrittenWriteBody(req, res, outcome);
    if (body !== 'answered') await forward(ctx, req, res, outcome, body, started);
  };
}

/** A merged read (merged-read.ts), counted under the `merged` backend. */
async function serveMerged(ctx: ProxyContext, res: ServerResponse, prepared: MergedPrepared, started: bigint): Promise<void> {
  const counter = countRequest(ctx.metrics, 'merged', prepared.info.verb);
  res.once('close', () => counter.cancel());
  try {
    const code = await serveMergedRead(ctx, prepared, res);
    counter.count(code, prepared.decision.reason, Number(process.hrtime.bigint() - started) / 1e9);
  } catch (err) {
    ctx.log.warn({ err: errorMessage(err) }, 'a merged read failed');
    counter.count(503, 'backend-unreachable');
    backendUnavailable(res, 'source or destination', errorMessage(err));
  }
}

/**
 * forward: the request to its backend (a write counted as the shard's while it runs, a watch ended
 * when a hand-off ends it), and the answer back (sendAnswer).
 */
async function forward(
  ctx: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  prepared: Prepared,
  body: Buffer | undefined,
  started: bigint,
): Promise<void> {
  const { info, decision, cluster } = prepared;
  const endWrite = decision.shard && WRITE_VERBS.has(info.verb) ? ctx.activity.beginWrite(decision.shard) : undefined;
  if (body !== undefined && (await answeredSourceFirst(ctx, prepared, body, res, started))) return endWrite?.();
  const shadowed = decision.target === 'source' && ctx.shadow?.sample(decision.shard, info.verb) ? shadowPath(prepared.path) : undefined;
  const upstreamReq: ClientRequest = request({
    ...backendAddress(cluster),
    method: req.method,
    path: prepared.path,
    headers: prepared.headers as unknown as Record<string, string>,
    agent: decision.target === 'destination' ? cluster.asBridge : cluster.asCaller,
  });
  let responded = false;
  const counter = countRequest(ctx.metrics, decision.target, info.verb);
  res.once('close', () => {
    counter.cancel();
    endWrite?.();
    if (!res.writableFinished) upstreamReq.destroy();
  });
  upstreamReq.on('error', (err) => {
    endWrite?.();
    if (responded) return void res.destroy();
    counter.count(503, 'backend-unreachable');
    backendUnavailable(res, decision.target, (err as NodeJS.ErrnoException).code ?? err.message);
  });
  upstreamReq.on('response', (upstream) => {
    responded = true;
    counter.count(upstream.statusCode ?? 0, decision.reason, Number(process.hrtime.bigint() - started) / 1e9);
    if (shadowed && (upstream.statusCode === 200 || upstream.statusCode === 404))
      res.once('finish', () => void shadowRead(ctx, req, prepared, shadowed).catch(() => ctx.metrics.shadowRead(decision.shard!, 'error')));
    if (info.verb === 'watch' && decision.shard) {
      const unregister = ctx.activity.addWatch(decision.shard, () => {
        upstream.unpipe();
        upstreamReq.destroy();
        res.end();
      });
      res.once('close', unregister);
    }
    sendAnswer(res, upstream, prepared);
  });
  if (body !== undefined) upstreamReq.end(body);
  else req.pipe(upstreamReq);
}

/** The backend's answer to the client: streamed, with a moved shard's RVs (and UIDs) presented in the client's epoch. */
function sendAnswer(res: ServerResponse, upstream: IncomingMessage, prepared: Prepared): void {
  const { info, codec } = prepared;
  const streaming = info.verb === 'watch' || upstream.headers['content-length'] === undefined;
  const rewrite = codec ? responseRewrite(info.verb === 'watch', upstream.statusCode!, upstream.headers['content-type']) : 'none';
  if (rewrite === 'watch-events') {
    res.writeHead(200, upstream.statusMessage, clientResponseHeaders(upstream.rawHeaders));
    res.flushHeaders();
    upstream.pipe(new WatchRVRewriter(responseRVMapper(codec!))).pipe(res);
    return;
  }
  if (rewrite === 'whole-body') return sendRewritten(res, upstream, codec!, [], prepared.uids);
  res.writeHead(upstream.statusCode!, upstream.statusMessage, clientResponseHeaders(upstream.rawHeaders));
  if (streaming) res.flushHeaders();
  upstream.on('close', () => {
    if (!upstream.complete && !res.writableEnded) res.destroy();
  });
  upstream.pipe(res);
}
