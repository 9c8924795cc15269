/**
 * Serves the routing table to sidecars (lib/routing/routing-table-protocol.ts): mTLS sidecar client
 * certificates only, answered at once or as a long poll that ends when the table or the shadow-read
 * plan changes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { parseRoutingTableQuery, type ServedRoutingTable } from '../../lib/routing/routing-table-protocol.js';
import type { RoutingState } from '../../lib/routing/routing-state.js';
import { bridgePeer } from '../../lib/tls/peer-certificate.js';
import type { ShadowReads } from './shadow-reads.js';
import { sendStatus } from '../../lib/routing/status-responses.js';

/** Handles the request and returns true when it is a routing-table request; false leaves it to the proxy. */
export function serveRoutingTable(
  routing: RoutingState,
  shadow: Pick<ShadowReads, 'version' | 'shadowedShards' | 'waitForChange'> | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): boolean {
  if (req.method !== 'GET') return false;
  const query = parseRoutingTableQuery(req.url ?? '/');
  if (!query) return false;
  if (bridgePeer(req.socket as TLSSocket).kind !== 'sidecar') {
    sendStatus(res, 403, 'Forbidden', 'the routing table is served to cluster-bridge sidecars only');
    return true;
  }
  const gone = new AbortController();
  res.once('close', () => gone.abort());
  const { held, waitSeconds } = query;
  const done = new AbortController(); // the first change ends the other wait
  const waited = held
    ? Promise.race([
        routing.waitForChange(held.generation, waitSeconds * 1000, AbortSignal.any([gone.signal, done.signal])),
        shadow?.waitForChange(held.shadowVersion, waitSeconds * 1000, AbortSignal.any([gone.signal, done.signal])) ?? new Promise<void>(() => {}),
      ])
    : Promise.resolve();
  void waited.then(() => {
    done.abort();
    if (gone.signal.aborted) return;
    const served: ServedRoutingTable = { ...routing.table, shadowReads: { version: shadow?.version ?? 0, shards: shadow?.shadowedShards ?? [] } };
    const body = JSON.stringify(served);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  return true;
}
