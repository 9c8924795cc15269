// What the source-first unit tests (source-first-create, source-first-apply) share: connections to fake
// HTTPS backends (sidecar-fixtures.ts), a plain HTTP front that runs one source-first write and returns
// what its client got, and short ways to write and read what the backends saw.
import { mkdtempSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectCluster, type ClusterConnection } from '../../lib/kube/cluster-connection.js';
import { writeKubeconfig } from '../../lab/kubeconfig.js';
import type { TestBackend, TestPki } from './sidecar-fixtures.js';

export const APPLY_YAML = 'application/apply-patch+yaml';

export const json = (res: ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
export const status = (code: number, reason: string, message: string) => ({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message });

/** What a backend was asked, in order: `METHOD path`, a dry run as `METHOD dry-run`. */
export const calls = (backend: TestBackend) => backend.seen.map((s) => `${s.method} ${s.url.includes('dryRun=All') ? 'dry-run' : s.url.split('?')[0]}`);

/** The headers the proxy would send the destination for the caller (impersonated), for a body of `length` bytes. */
export const callerHeaders = (contentType: string) => (length: number) => [
  'Host',
  '127.0.0.1',
  'Content-Type',
  contentType,
  'Content-Length',
  String(length),
  'Impersonate-User',
  'system:serviceaccount:apps:web',
];

const opened: Array<{ close(): unknown }> = [];

/** Closes the connections and fronts the last test opened (afterEach). */
export function closeOpened(): void {
  for (const o of opened.splice(0)) o.close();
}

/** A connection to a fake backend with the bridge's token, as the aggregator has to each cluster. */
export async function connect(pki: TestPki, side: 'source' | 'destination', port: number): Promise<ClusterConnection> {
  const file = join(mkdtempSync(join(tmpdir(), 'source-first-')), 'kubeconfig');
  writeKubeconfig(file, {
    clusterName: side,
    server: `https://127.0.0.1:${port}`,
    caPem: pki.ca.certPem,
    userName: 'bridge',
    credentials: { token: 'bridge-token' },
  });
  const connection = await connectCluster(side, file);
  opened.push(connection);
  return connection;
}

/** Runs one source-first write through a plain HTTP front (the aggregator's client side) and returns what the client got. */
export async function answerThroughFront<R extends { outcome: string }>(
  run: (res: ServerResponse) => Promise<R>,
): Promise<{ code: number; body: Record<string, unknown>; outcome: R['outcome'] | undefined; result: R | undefined }> {
  let result: R | undefined;
  const front: Server = createServer(
    (_req: IncomingMessage, res: ServerResponse) =>
      void run(res).then((r) => {
        result = r;
        // Not answered (a write that needs no source first): the proxy would go on with the request; here it just ends.
        if (!res.headersSent) res.end();
      }),
  );
  front.listen(0, '127.0.0.1');
  await new Promise((resolve) => front.once('listening', resolve));
  opened.push({ close: () => front.close() });
  const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: (front.address() as AddressInfo).port, method: 'POST', path: '/' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
  const text = answer.text;
  return { code: answer.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, outcome: result?.outcome, result };
}
