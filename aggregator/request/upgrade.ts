/**
 * forward, for upgrades (exec, attach, port-forward, proxy, WebSocket watches): the same steps as any
 * request (steps.ts), then the two sockets piped raw.
 */
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import type { Duplex } from 'node:stream';
import { errorMessage } from '../../lib/errors.js';
import { pipeBothWays } from '../../lib/proxy/pipe-both-ways.js';
import { clientResponseHeaders, rawResponseHead } from '../../lib/proxy/headers.js';
import { readBody } from '../../lib/proxy/read-body.js';
import { WRITE_VERBS } from '../../lib/routing/request-info.js';
import { withoutContentLength } from '../../lib/routing/rewritten-response.js';
import { writeStatusToSocket } from '../../lib/routing/status-responses.js';
import { backendAddress } from './backend-call.js';
import { answerRefusalOnSocket } from './refusals.js';
import { isMerged, isRefused, type MergedPrepared, type Prepared, type ProxyContext, type Refused } from './request-context.js';
import { prepare } from './steps.js';

const MAX_UPGRADE_REFUSAL_BYTES = 64 * 1024;

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
    let prepared: Prepared | MergedPrepared | Refused;
    try {
      prepared = await prepare(ctx, req);
    } catch (err) {
      ctx.log.error({ err: errorMessage(err) }, 'upgrade preparation failed');
      writeStatusToSocket(socket, 500, 'InternalError', 'the cluster-bridge aggregator failed to route the request');
      return;
    }
    if (isRefused(prepared)) return answerRefusalOnSocket(socket, prepared.refused);
    if (isMerged<MergedPrepared>(prepared))
      return writeStatusToSocket(
        socket,
        400,
        'BadRequest',
        'a cluster-wide read merged from both clusters is served over plain HTTP only; no protocol upgrade',
      );
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
