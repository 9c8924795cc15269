/** A minimal HTTPS client for control-plane bootstrap calls (readiness, a few objects) with client certs. */
import { request } from 'node:https';

export interface TlsClientOptions {
  caPem: string;
  certPem?: string;
  keyPem?: string;
  token?: string;
}

export interface HttpsResult {
  status: number;
  body: string;
}

export function httpsRequest(
  url: string,
  tls: TlsClientOptions,
  init: { method?: string; body?: unknown; timeoutMs?: number; contentType?: string } = {},
): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const payload = init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
    const req = request(
      url,
      {
        method: init.method ?? 'GET',
        ca: tls.caPem,
        cert: tls.certPem,
        key: tls.keyPem,
        headers: {
          accept: 'application/json',
          ...(tls.token ? { authorization: `Bearer ${tls.token}` } : {}),
          ...(payload ? { 'content-type': init.contentType ?? 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
        timeout: init.timeoutMs ?? 5000,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${init.timeoutMs ?? 5000} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}
