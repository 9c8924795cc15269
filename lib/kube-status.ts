/** Kubernetes `Status` bodies for errors the bridge answers itself, so clients parse them like the API server's. */

export type StatusReason =
  'ServiceUnavailable' | 'InternalError' | 'BadRequest' | 'Forbidden' | 'Expired' | 'Conflict' | 'Unauthorized' | 'UnsupportedMediaType';

export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: StatusReason;
  code: number;
}

export function kubeStatus(code: number, reason: StatusReason, message: string): KubeStatus {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/** The serialized body and headers for a Status response. */
export function kubeStatusResponse(code: number, reason: StatusReason, message: string, retryAfterSeconds?: number) {
  const body = JSON.stringify(kubeStatus(code, reason, message));
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-cache, private',
  };
  if (retryAfterSeconds !== undefined) headers['retry-after'] = retryAfterSeconds;
  return { body, headers };
}
