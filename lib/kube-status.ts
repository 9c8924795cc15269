/** Kubernetes `Status` bodies for errors the bridge answers itself, so clients parse them like the API server's. */

export type StatusReason =
  'ServiceUnavailable' | 'InternalError' | 'BadRequest' | 'Forbidden' | 'Expired' | 'Conflict' | 'Unauthorized' | 'UnsupportedMediaType' | 'TooManyRequests';

/** What a Status is about (a Forbidden names the group, resource and name it checked). */
export interface StatusDetails {
  group?: string;
  kind?: string;
  name?: string;
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
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

/** The serialized body and headers for a Status response. */
export function kubeStatusResponse(code: number, reason: StatusReason, message: string, retryAfterSeconds?: number, details?: StatusDetails) {
  const body = JSON.stringify(kubeStatus(code, reason, message, details));
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-cache, private',
  };
  if (retryAfterSeconds !== undefined) headers['retry-after'] = retryAfterSeconds;
  return { body, headers };
}
