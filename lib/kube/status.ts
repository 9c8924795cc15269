/**
 * Kubernetes `Status` bodies for errors the bridge answers itself, written as kube-apiserver writes them
 * (issue 20 item 5): the fields in the order of its Go struct (kind, apiVersion, metadata, status,
 * message, reason, details, code), Go's JSON escaping and the Encoder's trailing newline
 * (lib/kube/go-json.ts), `application/json`, `nosniff`, and `details.retryAfterSeconds` beside a Retry-After
 * header as its own answers carry them.
 */
import { goJsonBody } from './go-json.js';

export type StatusReason =
  | 'ServiceUnavailable'
  | 'InternalError'
  | 'BadRequest'
  | 'Forbidden'
  | 'Expired'
  | 'Conflict'
  | 'Unauthorized'
  | 'Invalid'
  | 'NotFound'
  | 'UnsupportedMediaType'
  | 'NotAcceptable'
  | 'MethodNotAllowed'
  | 'TooManyRequests';

/** metav1.StatusCause. */
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

/** metav1.StatusDetails, its fields in the struct's order. */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: StatusReason;
  details?: StatusDetails;
  code: number;
}

export function kubeStatus(code: number, reason: StatusReason, message: string, details?: StatusDetails): KubeStatus {
  const ordered = details && {
    name: details.name || undefined,
    group: details.group || undefined,
    kind: details.kind || undefined,
    uid: details.uid || undefined,
    causes: details.causes,
    retryAfterSeconds: details.retryAfterSeconds || undefined,
  };
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(ordered ? { details: ordered } : {}), code };
}

/** The serialized body and headers for a Status response. */
export function kubeStatusResponse(code: number, reason: StatusReason, message: string, retryAfterSeconds?: number, details?: StatusDetails) {
  const withRetry = retryAfterSeconds !== undefined ? { ...details, retryAfterSeconds } : details;
  const body = goJsonBody(kubeStatus(code, reason, message, withRetry));
  const headers: Record<string, string | number> = {
    'cache-control': 'no-cache, private',
    'content-type': 'application/json',
    'x-content-type-options': 'nosniff',
    'content-length': Buffer.byteLength(body),
  };
  if (retryAfterSeconds !== undefined) headers['retry-after'] = retryAfterSeconds;
  return { body, headers };
}
