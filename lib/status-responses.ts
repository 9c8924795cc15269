/** The Status answers the aggregator gives itself, worded as kube-apiserver words them. */
import type { ServerResponse } from 'node:http';
import { kubeStatusResponse, type StatusDetails, type StatusReason } from './kube-status.js';
import type { RequestInfo } from './routing/types.js';

export function sendStatus(
  res: ServerResponse,
  code: number,
  reason: StatusReason,
  message: string,
  retryAfterSeconds?: number,
  details?: StatusDetails,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { body, headers } = kubeStatusResponse(code, reason, message, retryAfterSeconds, details);
  res.writeHead(code, headers).end(body);
}

export function handoffHold(res: ServerResponse, shard: string): void {
  sendStatus(res, 503, 'ServiceUnavailable', `the ${shard} shard is changing owner; retry shortly`, 1);
}

export function backendUnavailable(res: ServerResponse, side: string, detail: string): void {
  // 503, never 404: a 404 from discovery makes the garbage collector and namespace controller act.
  sendStatus(res, 503, 'ServiceUnavailable', `the ${side} API server is unavailable: ${detail}`, 1);
}

/** An RV from an epoch before the current owner's, in a list or watch: clients relist. */
export function expiredResourceVersion(res: ServerResponse, rv: string): void {
  sendStatus(res, 410, 'Expired', `too old resource version: ${rv}`);
}

/** An RV from an older epoch in a write precondition, as an optimistic-concurrency conflict. */
export function staleWriteConflict(res: ServerResponse, info: RequestInfo): void {
  const what = info.apiGroup ? `${info.resource}.${info.apiGroup}` : info.resource;
  sendStatus(
    res,
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${what} "${info.name}": the object has been modified; please apply your changes to the latest version and try again`,
  );
}

/** A request body rewriteRequestBody refused (lib/routing/request-rewrite.ts): 409, 415 or 400. */
export function sendBodyRefusal(res: ServerResponse, info: RequestInfo, refusal: { reason: 'stale' | 'malformed' | 'unsupported'; message: string }): void {
  if (refusal.reason === 'stale') staleWriteConflict(res, info);
  else if (refusal.reason === 'unsupported') sendStatus(res, 415, 'UnsupportedMediaType', refusal.message);
  else sendStatus(res, 400, 'BadRequest', `the request body could not be decoded: ${refusal.message}`);
}
