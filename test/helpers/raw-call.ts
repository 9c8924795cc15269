// One HTTPS request with a kubeconfig's credentials, answered byte for byte (headers and body), for
// comparing the bridge's answers with kube-apiserver's.
import { request, type RequestOptions } from 'node:https';
import { loadKubeConfig } from '../../lib/kube/rest-client.js';

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

export async function rawCall(kubeconfig: string, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<RawAnswer> {
  const access = loadKubeConfig(kubeconfig);
  const payload = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const options: RequestOptions = {
    method,
    agent: false,
    headers: {
      accept: 'application/json',
      'user-agent': 'identity-e2e/1.0',
      ...(payload ? { 'content-type': contentType, 'content-length': payload.length } : {}),
    },
  };
  await access.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = request(new URL(access.server + path), { ...options, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const all = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: all, text: all.toString('utf8') });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}
