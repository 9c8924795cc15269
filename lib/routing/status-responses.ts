/** The Status answers the aggregator gives itself, worded as kube-apiserver words them. */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { BridgeError } from '../errors.js';
import { goJsonBody } from '../kube/go-json.js';
import { kubeStatus, kubeStatusResponse, type StatusDetails, type StatusReason } from '../kube/status.js';
import { rawResponseHead } from '../proxy/headers.js';
import type { RequestInfo } from './types.js';

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

/** The same Status on a raw socket (an upgrade's, before it switched), the connection closed after it: the bytes sendStatus writes. */
export function writeStatusToSocket(
  socket: Duplex,
  code: number,
  reason: StatusReason,
  message: string,
  retryAfterSeconds?: number,
  details?: StatusDetails,
): void {
  const { body, headers } = kubeStatusResponse(code, reason, message, retryAfterSeconds, details);
  const raw = Object.entries(headers).flatMap(([name, value]) => [name, String(value)]);
  socket.end(rawResponseHead(code, STATUS_CODES[code] ?? reason, [...raw, 'Connection', 'close']) + body);
}

/** A request the bridge refuses itself: the Status its error code declares (lib/errors.ts), with the error's message, Retry-After and details. */
export function sendRefusal(res: ServerResponse, err: BridgeError): void {
  sendStatus(res, err.status, err.statusReason, err.message, err.retryAfterSeconds, err.details);
}

/** The same refusal on a raw socket. */
export function refusalToSocket(socket: Duplex, err: BridgeError): void {
  writeStatusToSocket(socket, err.status, err.statusReason, err.message, err.retryAfterSeconds, err.details);
}

export function backendUnavailable(res: ServerResponse, side: string, detail: string): void {
  // 503, never 404: a 404 from discovery makes the garbage collector and namespace controller act.
  sendStatus(res, 503, 'ServiceUnavailable', `the ${side} API server is unavailable: ${detail}`, 1);
}

/**
 * kube-apiserver's words for a compacted RV, `too old resource version: <rv> (<oldest>)`; here the
 * oldest is where the current epoch starts (every RV it presents is above it). A continue token gets
 * its words for an expired token (without the fresh token it adds; the bridge has none to offer).
 */
export function expiredMessage(rv: string, currentEpochStart: string, continueToken = false): string {
  if (!continueToken) return `too old resource version: ${rv} (${currentEpochStart})`;
  return (
    'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, ' +
    'or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an ' +
    'inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.'
  );
}

/** An RV from an epoch before the current owner's, in a list or get: clients relist. */
export function expiredResourceVersion(res: ServerResponse, message: string): void {
  sendStatus(res, 410, 'Expired', message);
}

/** The same in a watch, as kube-apiserver answers a watch from a compacted RV: 200 and one ERROR event carrying the 410. */
export function expiredWatch(res: ServerResponse, message: string): void {
  if (res.headersSent) return void res.destroy();
  const body = goJsonBody({ type: 'ERROR', object: kubeStatus(410, 'Expired', message) });
  res.writeHead(200, { 'cache-control': 'no-cache, private', 'content-type': 'application/json' }).end(body);
}

/** An RV or continue token of an older epoch, answered as kube-apiserver answers a compacted one (the aggregator and the sidecar alike). */
export function refuseExpiredQuery(res: ServerResponse, verb: string, query: { expiredRV: string; continueToken?: true }, currentEpochStart: string): void {
  const message = expiredMessage(query.expiredRV, currentEpochStart, query.continueToken);
  if (verb === 'watch') expiredWatch(res, message);
  else expiredResourceVersion(res, message);
}

/** An RV from an older epoch in a write precondition, as an optimistic-concurrency conflict (apierrors.NewConflict). */
export function staleWriteConflict(res: ServerResponse, info: RequestInfo): void {
  const what = info.apiGroup ? `${info.resource}.${info.apiGroup}` : info.resource;
  sendStatus(
    res,
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${what} "${info.name}": the object has been modified; please apply your changes to the latest version and try again`,
    undefined,
    { name: info.name, group: info.apiGroup, kind: info.resource },
  );
}

/** A request body rewriteRequestBody refused (lib/routing/request-rewrite.ts): 409, 415 or 400. */
export function sendBodyRefusal(res: ServerResponse, info: RequestInfo, refusal: { reason: 'stale' | 'malformed' | 'unsupported'; message: string }): void {
  if (refusal.reason === 'stale') staleWriteConflict(res, info);
  else if (refusal.reason === 'unsupported') sendStatus(res, 415, 'UnsupportedMediaType', refusal.message);
  else sendStatus(res, 400, 'BadRequest', `the request body could not be decoded: ${refusal.message}`);
}

/**
 * A write that sets, changes or removes one of the bridge's own annotations (issue 21), refused as
 * kube-apiserver refuses an invalid object (apierrors.NewInvalid with field.Forbidden errors).
 */
export function forbiddenAnnotations(res: ServerResponse, info: RequestInfo, object: { kind: string; name: string }, keys: readonly string[]): void {
  const { kind, name } = object;
  const detail = 'this annotation belongs to cluster-bridge and cannot be set or changed through the API';
  const errors = keys.map((key) => ({ field: `metadata.annotations[${key}]`, body: `Forbidden: ${detail}` }));
  const listed = errors.map((e) => `${e.field}: ${e.body}`);
  const message = `${kind} "${name}" is invalid: ${listed.length === 1 ? listed[0] : `[${listed.join(', ')}]`}`;
  const causes = errors.map((e) => ({ reason: 'FieldValueForbidden', message: e.body, field: e.field }));
  sendStatus(res, 422, 'Invalid', message, undefined, { name, group: info.apiGroup, kind, causes });
}
