/**
 * One API request through the aggregator: parse it (RequestInfo), route it by the table, authenticate
 * it for the chosen backend, rewrite resourceVersions of moved shards both ways, and stream the answer
 * back. Shards in epoch 0 (never moved) are piped untouched, so before a rollout the aggregator adds
 * only a hop. Upgrades (exec, attach, port-forward) take the same decisions and are piped raw.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { request } from 'node:https';
import type { ClientRequest } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { errorMessage } from '../lib/errors.js';
import { kubeStatusResponse, type StatusDetails, type StatusReason } from '../lib/kube-status.js';
import type { Logger } from '../lib/logger.js';
import { BRIDGE_HEADER_PREFIX, BRIDGE_HOP_HEADER } from '../lib/names.js';
import { pipeBothWays } from '../lib/pipe-both-ways.js';
import { readBody } from '../lib/read-body.js';
import { clientResponseHeaders, headerValue, HOP_BY_HOP_HEADERS, rawResponseHead } from '../lib/proxy-headers.js';
import { parseRequestInfo, WRITE_VERBS } from '../lib/routing/request-info.js';
import { responseRVMapper, type ShardRVCodec } from '../lib/routing/resource-version.js';
import { route } from '../lib/routing/routing-table.js';
import type { ClusterSide, RequestInfo, RouteDecision } from '../lib/routing/types.js';
import { WatchRVRewriter } from '../lib/routing/watch-rewriter.js';
import type { ClusterConnection } from '../lib/cluster-connection.js';
import { bearerToken, checkIdentityHeaders, impersonationHeaders, peerIdentity, type ImpersonationRequest } from './identity.js';
import type { SourceAuthenticator } from './source-authenticator.js';
import type { AggregatorMetrics } from './metrics.js';
import { jsonOnlyAccept, replacedWhenRewriting, rewriteQuery, rewriteRequestBody } from '../lib/routing/request-rewrite.js';
import { identifyWrite, writeKind } from './write-identity.js';
import { responseRewrite, sendRewritten, withoutContentLength } from '../lib/routing/rewritten-response.js';
import { parseCreateBody, sourceAllocatingWrite } from './source-allocation.js';
import { applySourceFirst } from './source-first-apply.js';
import { createSourceFirst } from './source-first-create.js';
import { updateSourceFirst } from './source-first-update.js';
import { backendAddress } from './backend-call.js';
import { countRequest } from './request-counter.js';
import type { ReplicaPresence } from './replica-presence.js';
import type { RoutingState } from '../lib/routing/routing-state.js';
import { jsonReadHeaders, shadowPath, type ShadowReads } from './shadow-reads.js';
import type { ShardActivity } from './shard-activity.js';
import { backendUnavailable, expiredMessage, handoffHold, refuseExpiredQuery, sendBodyRefusal, sendStatus } from '../lib/status-responses.js';

export interface ProxyContext {
  clusters: Record<ClusterSide, ClusterConnection>;
  /** Absent: no shadow reads (a replica that runs no rollout controller). */
  shadow?: ShadowReads;
  /** This replica's Lease (replica-presence.ts); shard writes are held while it is not fresh. */
  presence?: Pick<ReplicaPresence, 'isFresh'>;
  routing: RoutingState;
  auth: SourceAuthenticator;
  activity: ShardActivity;
  metrics: AggregatorMetrics;
  log: Logger;
}

/** This hop's mark: a request that already carries it looped back and is refused (one hop at most). */
export const AGGREGATOR_HOP = 'aggregator';
const MAX_REWRITTEN_BODY_BYTES = 8 * 1024 * 1024;
const MAX_UPGRADE_REFUSAL_BYTES = 64 * 1024;
/** Not forwarded to a backend: hop-by-hop headers, and the framing and Host that Node and backendHeaders() set anew. */
const NOT_FORWARDED = new Set([...HOP_BY_HOP_HEADERS, 'transfer-encoding', 'host']);

/** A request the aggregator has decided on: where, as whom, with which path and headers. */
interface Prepared {
  info: RequestInfo;
  /** The client's Impersonate-* request, if any (authorized only when the destination is the target). */
  impersonation: ImpersonationRequest | undefined;
  decision: RouteDecision & { target: ClusterSide };
  codec: ShardRVCodec | undefined;
  path: string;
  headers: string[];
  cluster: ClusterConnection;
  /** The request's headers rebuilt for a rewritten body of `length` bytes. */
  headersForBody(length: number): string[];
  /** Backend UIDs the request's body was mapped to, and the UIDs the client presented (write-identity.ts), for the answer. */
  uids?: ReadonlyMap<string, string>;
}

function looped(rawHeaders: readonly string[]): boolean {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === BRIDGE_HOP_HEADER.toLowerCase() && rawHeaders[i + 1] === AGGREGATOR_HOP) return true;
  }
  return false;
}

/**
 * The headers for the backend: the client's minus hop-by-hop and bridge headers; toward the
 * destination the token and client impersonation headers are replaced by the bridge's credentials
 * and impersonation of the authenticated caller; for a rewritten shard, JSON only and no compression.
 */
function backendHeaders(
  raw: readonly string[],
  side: ClusterSide,
  impersonate: string[],
  cluster: ClusterConnection,
  rewriting: boolean,
  bodyLength?: number,
): string[] {
  // Node adds no Host header to a request whose headers are a raw array: name the backend here.
  const out: string[] = ['Host', cluster.url.host];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (NOT_FORWARDED.has(lower) || lower.startsWith(BRIDGE_HEADER_PREFIX)) continue;
    if (side === 'destination' && (lower === 'authorization' || lower.startsWith('impersonate-'))) continue;
    if (rewriting && replacedWhenRewriting(lower)) continue;
    if (bodyLength !== undefined && lower === 'content-length') continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  if (rewriting) out.push('Accept', jsonOnlyAccept(headerValue(raw, 'accept')));
  if (bodyLength !== undefined) out.push('Content-Length', String(bodyLength));
  if (side === 'destination') {
    out.push(...impersonate);
    for (const [name, value] of Object.entries(cluster.bridgeHeaders)) out.push(name, value);
  }
  out.push(BRIDGE_HOP_HEADER, AGGREGATOR_HOP);
  return out;
}

type Refusal = { ok: false; code: number; reason: Parameters<typeof sendStatus>[2]; message: string; retryAfter?: number; details?: StatusDetails };

/**
 * The caller as the destination should see it: authenticated against the source (TokenReview) and,
 * for client impersonation, authorized there (SubjectAccessReview); the impersonation headers, or the
 * answer the client gets instead.
 */
async function destinationIdentity(
  ctx: ProxyContext,
  req: IncomingMessage,
  info: RequestInfo,
  impersonation: ImpersonationRequest | undefined,
): Promise<{ ok: true; headers: string[] } | Refusal> {
  let user;
  try {
    const caller = await ctx.auth.authenticate(bearerToken(req.rawHeaders), req.socket.remoteAddress ?? '', info.path);
    if (!caller.ok && caller.why === 'throttled') {
      ctx.metrics.refused('review-budget');
      return { ok: false, code: 429, reason: 'TooManyRequests', message: 'too many requests with unknown credentials; retry shortly', retryAfter: 1 };
    }
    if (!caller.ok) return { ok: false, code: 401, reason: 'Unauthorized', message: 'Unauthorized' };
    user = caller.user;
    if (impersonation) {
      const outcome = await ctx.auth.impersonate(user, impersonation, info);
      if (!outcome.ok) return { ok: false, code: 403, reason: 'Forbidden', message: outcome.forbidden.message, details: outcome.forbidden.details };
      user = outcome.user;
    }
  } catch (err) {
    ctx.log.warn({ err: errorMessage(err) }, 'cannot authenticate a caller against the source');
    return { ok: false, code: 503, reason: 'ServiceUnavailable', message: 'cannot authenticate the request against the source API server', retryAfter: 1 };
  }
  return { ok: true, headers: impersonationHeaders(user) };
}

/**
 * A loop, a target Go's server refuses with 400 (kube-apiserver never sees it; neither do the
 * backends), refused identity headers; else the impersonation asked for.
 */
function onSight(
  ctx: ProxyContext,
  req: IncomingMessage,
  info: RequestInfo,
): { refusal: [number, StatusReason, string] | 'bad-request' } | { impersonation: ImpersonationRequest | 'malformed' | undefined } {
  if (looped(req.rawHeaders)) return { refusal: [508, 'InternalError', 'the request already passed through the cluster-bridge aggregator (routing loop)'] };
  if (info.malformed) return { refusal: 'bad-request' };
  const verdict = checkIdentityHeaders(req.rawHeaders, peerIdentity(req.socket as TLSSocket));
  if (verdict.ok) return verdict;
  ctx.metrics.refused('identity-header');
  return { refusal: [403, 'Forbidden', verdict.message] };
}

/** Go's net/http answer to a request line it cannot parse, word for word. */
function goBadRequest(res: ServerResponse | undefined, socket: Duplex | undefined): void {
  const body = '400 Bad Request';
  if (res) return void res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' }).end(body);
  socket!.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
}

/** Impersonation the source's filter refuses with 400 before any handler runs goes to the source, which answers it. */
function targetOf(target: ClusterSide, impersonation: ImpersonationRequest | 'malformed' | undefined) {
  return impersonation === 'malformed' ? { side: 'source' as const, impersonation: undefined } : { side: target, impersonation };
}

/**
 * Decides everything before a byte goes to a backend. Answers the client itself (and returns
 * undefined) for refused identity headers, held writes, unauthenticated tokens, denied impersonation
 * and RVs of older epochs.
 */
async function prepare(ctx: ProxyContext, req: IncomingMessage, res: ServerResponse | undefined, socket: Duplex | undefined): Promise<Prepared | undefined> {
  const reply = (code: number, reason: Parameters<typeof sendStatus>[2], message: string, retry?: number, details?: StatusDetails) => {
    if (res) sendStatus(res, code, reason, message, retry, details);
    else writeStatusToSocket(socket!, code, reason, message, retry, details);
  };
  const info = parseRequestInfo(req.method ?? 'GET', req.url ?? '/');
  const verdict = onSight(ctx, req, info);
  if ('refusal' in verdict) return void (verdict.refusal === 'bad-request' ? goBadRequest(res, socket) : reply(...verdict.refusal));
  const decision = route(info, ctx.routing.table);
  if (decision.target === 'hold') {
    ctx.metrics.request('none', info.verb, 503, decision.reason);
    if (res) handoffHold(res, decision.shard!);
    else reply(503, 'ServiceUnavailable', `the ${decision.shard} shard is changing owner; retry shortly`, 1);
    return undefined;
  }
  if (decision.shard && WRITE_VERBS.has(info.verb) && ctx.presence && !ctx.presence.isFresh()) {
    // The hand-off leader may have stopped waiting for this replica: its table may be stale.
    ctx.metrics.request('none', info.verb, 503, 'replica-not-confirmed');
    reply(503, 'ServiceUnavailable', 'this cluster-bridge aggregator replica cannot confirm its routing table; retry shortly', 1);
    return undefined;
  }
  const { side, impersonation } = targetOf(decision.target, verdict.impersonation);
  const cluster = ctx.clusters[side];
  let impersonate: string[] = [];
  if (side === 'destination') {
    const identity = await destinationIdentity(ctx, req, info, impersonation);
    if (!identity.ok) {
      reply(identity.code, identity.reason, identity.message, identity.retryAfter, identity.details);
      return undefined;
    }
    impersonate = identity.headers;
  }
  const codec = decision.shard ? ctx.routing.codec(decision.shard) : undefined;
  const rewriting = codec !== undefined && !codec.isIdentity;
  let path = req.url ?? '/';
  if (rewriting) {
    const query = rewriteQuery(path, codec);
    if (!query.ok) return void refuseExpired(query, codec, info, res, reply);
    path = query.path;
  }
  return {
    info,
    impersonation,
    decision: { ...decision, target: side },
    codec: rewriting ? codec : undefined,
    path,
    headers: backendHeaders(req.rawHeaders, side, impersonate, cluster, rewriting),
    cluster,
    headersForBody: (length) => backendHeaders(req.rawHeaders, side, impersonate, cluster, rewriting, length),
  };
}

/** An RV or continue token of an older epoch: 410 as kube-apiserver answers a compacted one (an ERROR event for a watch). */
function refuseExpired(
  query: { expiredRV: string; continueToken?: true },
  codec: ShardRVCodec,
  info: RequestInfo,
  res: ServerResponse | undefined,
  reply: (code: number, reason: StatusReason, message: string) => void,
): void {
  if (res) refuseExpiredQuery(res, info.verb, query, codec.current.offset);
  else reply(410, 'Expired', expiredMessage(query.expiredRV, codec.current.offset, query.continueToken));
}

/** The Status answer on an upgrade's raw socket, the same bytes sendStatus writes (lib/kube-status.ts). */
function writeStatusToSocket(socket: Duplex, code: number, reason: StatusReason, message: string, retryAfterSeconds?: number, details?: StatusDetails): void {
  const { body, headers } = kubeStatusResponse(code, reason, message, retryAfterSeconds, details);
  const raw = Object.entries(headers).flatMap(([name, value]) => [name, String(value)]);
  socket.end(rawResponseHead(code, STATUS_CODES[code] ?? reason, [...raw, 'Connection', 'close']) + body);
}

/** After the client has the source's answer: the same read from both clusters, compared (shadow-reads.ts). */
async function shadowRead(ctx: ProxyContext, req: IncomingMessage, prepared: Prepared, path: string): Promise<void> {
  const shard = prepared.decision.shard!;
  const identity = await destinationIdentity(ctx, req, prepared.info, prepared.impersonation);
  if (!identity.ok) return ctx.metrics.shadowRead(shard, 'error');
  const headers = {
    source: jsonReadHeaders(backendHeaders(req.rawHeaders, 'source', [], ctx.clusters.source, false)),
    destination: jsonReadHeaders(backendHeaders(req.rawHeaders, 'destination', identity.headers, ctx.clusters.destination, false)),
  };
  await ctx.shadow!.compare({ shard, path, headers });
}

/**
/**
 * A write to a shard may name the bridge's own annotations (refused), and one to a moved shard carries
 * resourceVersions of the client's epoch and the original's UIDs: its body is read and rewritten for
 * the backend whatever its format (and the headers updated; request-rewrite.ts, write-identity.ts).
 * Undefined: the body streams through untouched (never-moved shards, except the bodies that could name
 * the annotations; a proxy subresource, whose body is no API object); 'answered': the client was
 * refused (too large, an older epoch's RV, unreadable, CBOR or unknown format, a bridge annotation).
 */
async function rewrittenWriteBody(req: IncomingMessage, res: ServerResponse, prepared: Prepared): Promise<Buffer | undefined | 'answered'> {
  const { codec, info, decision } = prepared;
  const contentType = headerValue(req.rawHeaders, 'content-type');
  if (!decision.shard || !WRITE_VERBS.has(info.verb) || info.subresource === 'proxy') return undefined;
  // A never-moved shard's body is read only when it could set the bridge's annotations (an object or a patch).
  const kind = writeKind(info.verb, contentType ?? '');
  if (!codec && (!kind || kind === 'delete')) return undefined;
  const raw = await readBody(req, MAX_REWRITTEN_BODY_BYTES);
  if (raw === undefined) {
    sendStatus(res, 413, 'BadRequest', `request body larger than ${MAX_REWRITTEN_BODY_BYTES} bytes`);
    return 'answered';
  }
  let body = raw;
  if (codec) {
    const rewritten = rewriteRequestBody(raw, contentType, codec, info.verb);
    if (!rewritten.ok) {
      sendBodyRefusal(res, info, rewritten);
      return 'answered';
    }
    body = rewritten.body;
  }
  const identified = await identifyWrite(
    { info, target: decision.target, cluster: prepared.cluster, codec, headersForBody: prepared.headersForBody, contentType: contentType ?? '' },
    body,
    res,
  );
  if (!identified.ok) return 'answered';
  prepared.uids = identified.uids;
  body = identified.body;
  prepared.headers = prepared.headersForBody(body.length);
  return body;
}

/**
 * A write of a destination-owned shard whose values the source must allocate (source-allocation.ts):
 * made source first (source-first-create.ts, source-first-update.ts, source-first-apply.ts). False when it does not apply
 * (or turned out not to allocate), and the request goes on as any other.
 */
async function answeredSourceFirst(ctx: ProxyContext, prepared: Prepared, body: Buffer, res: ServerResponse, started: bigint): Promise<boolean> {
  const { info, decision } = prepared;
  if (decision.target !== 'destination' || !decision.shard) return false;
  const contentType = headerValue(prepared.headers, 'content-type') ?? '';
  const write = sourceAllocatingWrite(info, prepared.path, contentType);
  if (!write) return false;
  // The object a create asks for: a JSON POST's or an apply's (YAML); a protobuf POST is passed on undecoded.
  const requested =
    write === 'apply' ? parseCreateBody(body, true) : write === 'create' && contentType.startsWith('application/json') ? parseCreateBody(body) : undefined;
  // An apply the bridge cannot read is left to the destination to accept or refuse.
  if (write === 'apply' && !requested) return false;
  const counter = countRequest(ctx.metrics, 'destination', info.verb);
  res.once('close', () => counter.cancel());
  const common = {
    shard: decision.shard,
    path: prepared.path,
    headersForBody: prepared.headersForBody,
    body,
    contentType,
    source: ctx.clusters.source,
    destination: ctx.clusters.destination,
    codec: prepared.codec,
    log: ctx.log,
  };
  const result =
    write === 'update'
      ? { write, ...(await updateSourceFirst({ ...common, method: info.verb === 'update' ? 'PUT' : 'PATCH' }, res)) }
      : write === 'apply'
        ? await applySourceFirst({ ...common, requested: requested! }, res)
        : { write, ...(await createSourceFirst({ ...common, write, requested }, res)) };
  if (result.outcome === 'not-a-create' || result.outcome === 'not-allocating') {
    counter.cancel();
    return false;
  }
  counter.count(result.status, 'source-first', Number(process.hrtime.bigint() - started) / 1e9);
  if (result.write === 'update') ctx.metrics.sourceFirstUpdate(decision.shard, result.outcome);
  else ctx.metrics.sourceFirstCreate(decision.shard, result.outcome);
  return true;
}

export function createAggregatorHandler(ctx: ProxyContext) {
  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    let prepared: Prepared | undefined;
    try {
      prepared = await prepare(ctx, req, res, undefined);
    } catch (err) {
      ctx.log.error({ err: errorMessage(err) }, 'request preparation failed');
      sendStatus(res, 500, 'InternalError', 'the cluster-bridge aggregator failed to route the request');
      return;
    }
    if (!prepared) return;
    const { info, decision, codec, cluster } = prepared;
    const body = await rewrittenWriteBody(req, res, prepared);
    if (body === 'answered') return;
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
      const streaming = info.verb === 'watch' || upstream.headers['content-length'] === undefined;
      if (info.verb === 'watch' && decision.shard) {
        const unregister = ctx.activity.addWatch(decision.shard, () => {
          upstream.unpipe();
          upstreamReq.destroy();
          res.end();
        });
        res.once('close', unregister);
      }
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
    });
    if (body !== undefined) upstreamReq.end(body);
    else req.pipe(upstreamReq);
  };
}

/**
 * An upgrade of a movable shard's request: kube-apiserver serves watches over WebSocket, and any
 * request may carry Upgrade. Its frames are piped raw, so a shard whose RVs are rewritten refuses it
 * (the client gets 400 and can watch over HTTP); otherwise it counts as the shard's write (the
 * hand-off waits for it) or watch (the hand-off ends it) as long as its connection lives.
 */
function shardUpgradeAllowed(ctx: ProxyContext, prepared: Prepared, socket: Duplex): boolean {
  const { decision, info } = prepared;
  if (!decision.shard) return true;
  if (prepared.codec) {
    ctx.metrics.refused('upgrade-rewritten-shard');
    writeStatusToSocket(
      socket,
      400,
      'BadRequest',
      `the ${decision.shard} shard's resourceVersions are rewritten by the bridge: no protocol upgrade; use plain HTTP`,
    );
    return false;
  }
  if (WRITE_VERBS.has(info.verb)) socket.once('close', ctx.activity.beginWrite(decision.shard));
  else
    socket.once(
      'close',
      ctx.activity.addWatch(decision.shard, () => socket.destroy()),
    );
  return true;
}

/** exec, attach, port-forward and proxy upgrades: the same decisions, then the two sockets piped raw. */
export function createAggregatorUpgradeHandler(ctx: ProxyContext) {
  return async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    let prepared: Prepared | undefined;
    try {
      prepared = await prepare(ctx, req, undefined, socket);
    } catch (err) {
      ctx.log.error({ err: errorMessage(err) }, 'upgrade preparation failed');
      writeStatusToSocket(socket, 500, 'InternalError', 'the cluster-bridge aggregator failed to route the request');
      return;
    }
    if (!prepared) return;
    const { cluster, decision, info } = prepared;
    if (!shardUpgradeAllowed(ctx, prepared, socket)) return;
    const upgrade = req.headers.upgrade ?? '';
    const upstreamReq = request({
      ...backendAddress(cluster),
      method: req.method,
      path: prepared.path,
      headers: [...prepared.headers, 'Connection', 'Upgrade', 'Upgrade', upgrade] as unknown as Record<string, string>,
      // Upgraded sockets leave the pool; a fresh connection keeps pooled ones clean.
      agent: false,
      ca: (decision.target === 'destination' ? cluster.asBridge : cluster.asCaller).options.ca,
      ...(decision.target === 'destination' ? { cert: cluster.asBridge.options.cert, key: cluster.asBridge.options.key } : {}),
    });
    socket.once('close', () => upstreamReq.destroy());
    upstreamReq.on('error', (err) => {
      if (!socket.destroyed) writeStatusToSocket(socket, 503, 'ServiceUnavailable', `the ${decision.target} API server is unavailable: ${errorMessage(err)}`);
    });
    upstreamReq.on('upgrade', (upstreamRes, upstreamSocket, upstreamHead) => {
      ctx.metrics.request(decision.target, info.verb, 101, decision.reason);
      socket.write(rawResponseHead(upstreamRes.statusCode!, upstreamRes.statusMessage ?? 'Switching Protocols', upstreamRes.rawHeaders));
      if (upstreamHead.length > 0) socket.write(upstreamHead);
      if (head.length > 0) upstreamSocket.write(head);
      pipeBothWays(socket, upstreamSocket);
    });
    upstreamReq.on('response', (upstreamRes) => {
      ctx.metrics.request(decision.target, info.verb, upstreamRes.statusCode ?? 0, decision.reason);
      // A refusal to switch is a short Status: held whole (to set its length), but only up to a bound.
      readBody(upstreamRes, MAX_UPGRADE_REFUSAL_BYTES).then(
        (body) => {
          if (socket.destroyed) return;
          if (!body) return writeStatusToSocket(socket, 502, 'InternalError', `the ${decision.target} API server refused the upgrade with an oversized answer`);
          const headers = [
            ...withoutContentLength(clientResponseHeaders(upstreamRes.rawHeaders)),
            'Content-Length',
            String(body.length),
            'Connection',
            'close',
          ];
          socket.write(rawResponseHead(upstreamRes.statusCode!, upstreamRes.statusMessage ?? '', headers));
          socket.end(body);
        },
        () => socket.destroy(),
      );
    });
    upstreamReq.end();
  };
}
