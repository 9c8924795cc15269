/**
 * Serves the routing table to sidecars (lib/routing/routing-table-protocol.ts): mTLS sidecar client
 * certificates only, answered at once or as a long poll that ends when the table changes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { parseRoutingTableQuery } from '../lib/routing/routing-table-protocol.js';
import type { RoutingState } from '../lib/routing/routing-state.js';
import { peerIdentity } from './identity.js';
import { sendStatus } from './status-responses.js';

/** Handles the request and returns true when it is a routing-table request; false leaves it to the proxy. */
export function serveRoutingTable(routing: RoutingState, req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method !== 'GET') return false;
  const query = parseRoutingTableQuery(req.url ?? '/');
  if (!query) return false;
  if (!peerIdentity(req.socket as TLSSocket).sidecar) {
    sendStatus(res, 403, 'Forbidden', 'the routing table is served to cluster-bridge sidecars only');
    return true;
  }
  const gone = new AbortController();
  res.once('close', () => gone.abort());
  const waited = query.generation === undefined ? Promise.resolve() : routing.waitForChange(query.generation, query.waitSeconds * 1000, gone.signal);
  void waited.then(() => {
    if (gone.signal.aborted) return;
    const body = JSON.stringify(routing.table);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  return true;
}
