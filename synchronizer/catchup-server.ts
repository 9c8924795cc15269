/**
 * The synchronizer's side of the hand-off contract (lib/mirror/catchup.ts), over HTTPS with client
 * certificates from the bridge CA: "is shard S on the other side current with side A's revision R?"
 * S is a type shard (its mirror) or a namespace shard `namespace/<ns>` (that namespace in each carried
 * type's mirror from A: catchup-target.ts); any other shard is refused as not mirrored.
 * Only the aggregator may ask: a question that waits pauses the shard's mirror until the hand-off
 * ends, so any other caller (a sidecar's certificate from the same CA) could stop mirroring.
 * Answered by a full reconcile against a consistent list of A, whose revision is at least R; exact
 * because the aggregator holds the shard's writes while it asks.
 */
import { createServer, type Server } from 'node:https';
import { once } from 'node:events';
import type { CatchUpStatus } from '../lib/mirror/catchup.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/process/logger.js';
import { AGGREGATOR_SERVICE } from '../lib/names.js';
import { bridgePeer, describePeer, isComponent } from '../lib/tls/peer-certificate.js';
import type { TLSSocket } from 'node:tls';
import { namespaceOfShard } from '../lib/routing/shard-hash.js';
import type { CatchUpTarget } from './catchup-target.js';

const MAX_WAIT_SECONDS = 120;

function reply(res: import('node:http').ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

export async function startCatchUpServer(options: {
  host: string;
  port: number;
  tls: { cert: string; key: string; ca: string };
  /** The shard's mirrors (catchup-target.ts): a type shard's, or a namespace shard's part of each carried type's; undefined: not mirrored. */
  targetFor: (shard: string) => CatchUpTarget | undefined;
  /** Only the leading replica mirrors, so only it can answer; a standby sends the caller back to retry. */
  leading: () => boolean;
  /** Told when a hand-off's question (one that waits) is answered caught up: the old owner's mirror has nothing more to copy. */
  onCaughtUp?: (target: CatchUpTarget) => void;
  log: Logger;
}): Promise<Server> {
  const server = createServer({ ...options.tls, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://synchronizer');
    if (req.method !== 'GET' || url.pathname !== '/v1/catchup') return reply(res, 404, { message: 'not found' });
    const peer = bridgePeer(req.socket as TLSSocket);
    if (!isComponent(peer, AGGREGATOR_SERVICE)) {
      options.log.warn({ peer: describePeer(peer) }, 'catch-up question refused: only the aggregator may ask');
      return reply(res, 403, { message: `the catch-up API answers the ${AGGREGATOR_SERVICE} only, not ${describePeer(peer)}` });
    }
    if (!options.leading()) {
      res.setHeader('Retry-After', '1');
      return reply(res, 503, { message: 'this synchronizer replica is standing by: another one leads and mirrors' });
    }
    const shard = url.searchParams.get('shard') ?? '';
    const from = url.searchParams.get('from') ?? '';
    const rv = url.searchParams.get('rv') ?? '';
    const waitSeconds = Number(url.searchParams.get('timeoutSeconds') ?? '0');
    if (
      !shard ||
      (from !== 'source' && from !== 'destination') ||
      !/^\d+$/.test(rv) ||
      !Number.isFinite(waitSeconds) ||
      waitSeconds < 0 ||
      waitSeconds > MAX_WAIT_SECONDS
    ) {
      return reply(res, 400, { message: `need shard, from (source|destination), rv (decimal) and timeoutSeconds (0-${MAX_WAIT_SECONDS})` });
    }
    void answer(shard, from, BigInt(rv), waitSeconds * 1000).then(
      (status) => reply(res, 200, status),
      (err: unknown) => reply(res, 503, { message: errorMessage(err) }),
    );
  });

  async function answer(shard: string, from: 'source' | 'destination', rv: bigint, waitMs: number): Promise<CatchUpStatus> {
    const deadline = Date.now() + waitMs;
    // The routing view here may lag the aggregator's by a poll: wait for the mirror(s) from `from`.
    let target = options.targetFor(shard);
    while ((!target || target.from !== from) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      target = options.targetFor(shard);
    }
    const where = namespaceOfShard(shard) === undefined ? 'BRIDGE_SHARDS' : "BRIDGE_SHARDS and the routing table's namespaceTypes";
    if (!target) throw new Error(`shard ${shard} is not mirrored by this synchronizer (see ${where})`);
    if (target.from !== from) return { shard, from, caughtUp: false, syncedRV: '0' };
    // A full reconcile also writes again what the replica refused before: it may take it now.
    if ((target.syncedRV() < rv || target.failing().length > 0) && waitMs > 0) await target.reconcile();
    const failing = target.failing();
    const syncedRV = target.syncedRV();
    // Objects the destination refuses keep a shard in the source; a rollback does not wait for the source to take them.
    const caughtUp = syncedRV >= rv && (from === 'destination' || failing.length === 0);
    const failingStatus = failing.length > 0 ? { failing: { count: failing.length, example: failing[0]!, lastError: target.lastError() } } : {};
    options.log.info({ shard, from, rv: rv.toString(), syncedRV: syncedRV.toString(), failing: failing.length }, 'catch-up answered');
    // Only the aggregator's hand-off waits (lib/mirror/catchup.ts), and it asks with the shard's writes held.
    if (caughtUp && waitMs > 0) options.onCaughtUp?.(target);
    return { shard, from, caughtUp, syncedRV: syncedRV.toString(), ...failingStatus };
  }

  server.listen(options.port, options.host);
  await once(server, 'listening');
  return server;
}
