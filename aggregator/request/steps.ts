/**
 * One request's decisions before a byte goes to a backend, as four steps with one job each (the style
 * of kcp's pkg/proxy handler chain): parse, route, authenticate, rewrite. Each takes the context the
 * step before made (request-context.ts) and returns the next one, or the refusal the client gets
 * instead; the statuses are the error codes' own (lib/errors.ts). forward (proxy.ts, upgrade.ts) is
 * the fifth.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { BridgeError, errorMessage } from '../../lib/errors.js';
import { parseRequestInfo, WRITE_VERBS } from '../../lib/routing/request-info.js';
import { rewriteQuery } from '../../lib/routing/request-rewrite.js';
import { route as routeByTable } from '../../lib/routing/routing-table.js';
import type { RequestInfo } from '../../lib/routing/types.js';
import { bearerToken, checkIdentityHeaders, impersonationHeaders, peerIdentity, type ImpersonationRequest } from '../identity/identity.js';
import { backendHeaders, looped } from './backend-headers.js';
import {
  isMerged,
  isRefused,
  refusedWith,
  type Authenticated,
  type MergedPrepared,
  type MergedRouted,
  type Parsed,
  type Prepared,
  type ProxyContext,
  type Refused,
  type Routed,
} from './request-context.js';

/**
 * parse: the request line, and what the identity headers ask for. A loop, a target Go's server
 * refuses with 400 (kube-apiserver never sees it; neither do the backends) and refused identity
 * headers go no further.
 */
export function parse(ctx: ProxyContext, req: IncomingMessage): Parsed | Refused {
  const info = parseRequestInfo(req.method ?? 'GET', req.url ?? '/');
  if (looped(req.rawHeaders))
    return refusedWith(new BridgeError('BRIDGE_ERR_ROUTING_LOOP', 'the request already passed through the cluster-bridge aggregator (routing loop)'));
  if (info.malformed) return { refused: { kind: 'go-bad-request' } };
  const verdict = checkIdentityHeaders(req.rawHeaders, peerIdentity(req.socket as TLSSocket));
  if (verdict.ok) return { req, info, impersonation: verdict.impersonation };
  ctx.metrics.refused('identity-header');
  return refusedWith(new BridgeError('BRIDGE_ERR_IDENTITY', verdict.message));
}

/**
 * route: the backend by the routing table. Writes are held while their shard changes owner, and while
 * this replica cannot confirm its table (the hand-off leader may have stopped waiting for it).
 * Impersonation the source's filter refuses with 400 before any handler runs goes to the source,
 * which answers it.
 */
export function route(ctx: ProxyContext, parsed: Parsed): Routed | MergedRouted | Refused {
  const { req, info } = parsed;
  const decision = routeByTable(info, ctx.routing.table);
  if (decision.target === 'hold') {
    ctx.metrics.request('none', info.verb, 503, decision.reason);
    return refusedWith(new BridgeError('BRIDGE_ERR_SHARD_HELD', `the ${decision.shard} shard is changing owner; retry shortly`, { retryAfterSeconds: 1 }));
  }
  if (decision.shard && WRITE_VERBS.has(info.verb) && ctx.presence && !ctx.presence.isFresh()) {
    ctx.metrics.request('none', info.verb, 503, 'replica-not-confirmed');
    const message = 'this cluster-bridge aggregator replica cannot confirm its routing table; retry shortly';
    return refusedWith(new BridgeError('BRIDGE_ERR_SHARD_HELD', message, { retryAfterSeconds: 1 }));
  }
  const wanted = parsed.impersonation;
  // Answered from both clusters (merged-read.ts); impersonation the source refuses still goes there alone.
  if (decision.target === 'merged' && wanted !== 'malformed')
    return { req, info, impersonation: wanted, decision: { ...decision, target: 'merged' }, merged: true };
  const side = wanted === 'malformed' || decision.target === 'merged' ? 'source' : decision.target;
  const impersonation = wanted === 'malformed' ? undefined : wanted;
  return { req, info, impersonation, decision: { ...decision, target: side }, cluster: ctx.clusters[side] };
}

/**
 * The caller as the destination should see it: authenticated against the source (TokenReview) and,
 * for client impersonation, authorized there (SubjectAccessReview); the impersonation headers, or
 * why not.
 */
export async function callerForDestination(
  ctx: ProxyContext,
  req: IncomingMessage,
  info: RequestInfo,
  impersonation: ImpersonationRequest | undefined,
): Promise<string[] | BridgeError> {
  try {
    const caller = await ctx.auth.authenticate(bearerToken(req.rawHeaders), req.socket.remoteAddress ?? '', info.path);
    if (!caller.ok && caller.why === 'throttled') {
      ctx.metrics.refused('review-budget');
      return new BridgeError('BRIDGE_ERR_THROTTLED', 'too many requests with unknown credentials; retry shortly', { retryAfterSeconds: 1 });
    }
    if (!caller.ok) return new BridgeError('BRIDGE_ERR_UNAUTHENTICATED', 'Unauthorized');
    if (!impersonation) return impersonationHeaders(caller.user);
    const outcome = await ctx.auth.impersonate(caller.user, impersonation, info);
    if (!outcome.ok) return new BridgeError('BRIDGE_ERR_IDENTITY', outcome.forbidden.message, { details: outcome.forbidden.details });
    return impersonationHeaders(outcome.user);
  } catch (err) {
    ctx.log.warn({ err: errorMessage(err) }, 'cannot authenticate a caller against the source');
    return new BridgeError('BRIDGE_ERR_UPSTREAM_UNREACHABLE', 'cannot authenticate the request against the source API server', { retryAfterSeconds: 1 });
  }
}

/** authenticate: toward the destination, the caller as the source knows it (callerForDestination); toward the source, the client's own credentials. */
export async function authenticate(ctx: ProxyContext, routed: Routed): Promise<Authenticated | Refused> {
  if (routed.decision.target !== 'destination') return { ...routed, impersonate: [] };
  const impersonate = await callerForDestination(ctx, routed.req, routed.info, routed.impersonation);
  return impersonate instanceof BridgeError ? refusedWith(impersonate) : { ...routed, impersonate };
}

/** rewrite: a moved shard's resourceVersions in the query, from the client's epoch to the backend's; the headers for the backend. */
export function rewrite(ctx: ProxyContext, authenticated: Authenticated): Prepared | Refused {
  const { req, decision, impersonate, cluster } = authenticated;
  const codec = decision.shard ? ctx.routing.codec(decision.shard) : undefined;
  const rewriting = codec !== undefined && !codec.isIdentity;
  let path = req.url ?? '/';
  if (rewriting) {
    const query = rewriteQuery(path, codec);
    if (!query.ok) return { refused: { kind: 'expired', verb: authenticated.info.verb, query, epochStart: codec.current.offset } };
    path = query.path;
  }
  const side = decision.target;
  return {
    ...authenticated,
    codec: rewriting ? codec : undefined,
    path,
    headers: backendHeaders(req.rawHeaders, side, impersonate, cluster, rewriting),
    headersForBody: (length) => backendHeaders(req.rawHeaders, side, impersonate, cluster, rewriting, length),
  };
}

/**
 * A merged read is authorized as a forwarded list or watch is on each backend: the source with the
 * client's own credentials, the destination as the caller (callerForDestination).
 */
export async function authenticateMerged(ctx: ProxyContext, routed: MergedRouted): Promise<MergedPrepared | Refused> {
  const impersonate = await callerForDestination(ctx, routed.req, routed.info, routed.impersonation);
  return impersonate instanceof BridgeError ? refusedWith(impersonate) : { ...routed, impersonate };
}

/** The four steps in order: the request as it is forwarded (or, merged, read from both), or the refusal the client gets. */
export async function prepare(ctx: ProxyContext, req: IncomingMessage): Promise<Prepared | MergedPrepared | Refused> {
  const parsed = parse(ctx, req);
  if (isRefused(parsed)) return parsed;
  const routed = route(ctx, parsed);
  if (isRefused(routed)) return routed;
  if (isMerged(routed)) return authenticateMerged(ctx, routed);
  const authenticated = await authenticate(ctx, routed);
  if (isRefused(authenticated)) return authenticated;
  return rewrite(ctx, authenticated);
}
