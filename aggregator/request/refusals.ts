/** The answer to a refused request (request-context.ts), on a response or on an upgrade's raw socket. */
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { expiredMessage, refusalToSocket, refuseExpiredQuery, sendRefusal, writeStatusToSocket } from '../../lib/routing/status-responses.js';
import type { Refusal } from './request-context.js';

/** Go's net/http answer to a request line it cannot parse, word for word. */
const GO_BAD_REQUEST = '400 Bad Request';

export function answerRefusal(res: ServerResponse, refusal: Refusal): void {
  if (refusal.kind === 'status') return sendRefusal(res, refusal.error);
  if (refusal.kind === 'go-bad-request')
    return void res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' }).end(GO_BAD_REQUEST);
  // An RV or continue token of an older epoch: 410 as kube-apiserver answers a compacted one (an ERROR event for a watch).
  refuseExpiredQuery(res, refusal.verb, refusal.query, refusal.epochStart);
}

export function answerRefusalOnSocket(socket: Duplex, refusal: Refusal): void {
  if (refusal.kind === 'status') return refusalToSocket(socket, refusal.error);
  if (refusal.kind === 'go-bad-request')
    return void socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n${GO_BAD_REQUEST}`);
  writeStatusToSocket(socket, 410, 'Expired', expiredMessage(refusal.query.expiredRV, refusal.epochStart, refusal.query.continueToken));
}
