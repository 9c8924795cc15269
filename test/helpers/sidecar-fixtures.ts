/** Shared fixtures for sidecar tests: a throwaway PKI, TLS test backends and a sidecar started in-process. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse, OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { generateCa, issueCertificate, type CertificateAndKey } from '../../lib/tls/pki.js';
import { loadSidecarConfig } from '../../sidecar/config.js';
import { startSidecar, type Sidecar, type SidecarOptions } from '../../sidecar/server.js';

export interface TestPki {
  ca: CertificateAndKey;
  /** Serves the sidecar's loopback listener. */
  loopback: CertificateAndKey;
  /** Serves the test backends (upstream and "local API server"). */
  backend: CertificateAndKey;
  /** The sidecar's client certificate to the upstream. */
  client: CertificateAndKey;
}

let cachedPki: Promise<TestPki> | undefined;

export function testPki(): Promise<TestPki> {
  return (cachedPki ??= (async () => {
    const ca = await generateCa('sidecar-test-ca');
    const loopback = await issueCertificate(ca, { commonName: 'loopback', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server' });
    const backend = await issueCertificate(ca, { commonName: 'backend', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server' });
    const client = await issueCertificate(ca, { commonName: 'sidecar', usage: 'client' });
    return { ca, loopback, backend, client };
  })());
}

/** A Secret-like directory with the files the sidecar reads. */
export function writeTlsDir(pki: TestPki, options: { clientCert?: boolean } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'sidecar-tls-'));
  writeFileSync(join(dir, 'tls.crt'), pki.loopback.certPem);
  writeFileSync(join(dir, 'tls.key'), pki.loopback.keyPem);
  writeFileSync(join(dir, 'ca.crt'), pki.ca.certPem);
  if (options.clientCert !== false) {
    writeFileSync(join(dir, 'client.crt'), pki.client.certPem);
    writeFileSync(join(dir, 'client.key'), pki.client.keyPem);
  }
  return dir;
}

export interface TestBackend {
  port: number;
  server: Server;
  /** Every request head seen, in order. */
  seen: Array<{ method: string; url: string; rawHeaders: string[]; body: Buffer; clientCertCn?: string }>;
  openSockets: Set<Socket>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export type BackendHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

const defaultHandler: BackendHandler = (req, res, body) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ method: req.method, url: req.url, bodyLength: body.length }));
};

/**
 * An HTTPS server on a fixed loopback port that records what it receives; `stop()` and `start()`
 * again on the same port simulate an upstream going away and coming back. `streaming` handlers get
 * the request before its body is read.
 */
export async function startTestBackend(
  pki: TestPki,
  handler: BackendHandler = defaultHandler,
  options: { streaming?: (req: IncomingMessage, res: ServerResponse) => void } = {},
): Promise<TestBackend> {
  const seen: TestBackend['seen'] = [];
  const openSockets = new Set<Socket>();
  const server = createServer({
    cert: pki.backend.certPem,
    key: pki.backend.keyPem,
    ca: pki.ca.certPem,
    requestCert: true,
    rejectUnauthorized: false,
    keepAliveTimeout: 60_000,
  });
  server.on('connection', (socket: Socket) => {
    openSockets.add(socket);
    socket.once('close', () => openSockets.delete(socket));
  });
  server.on('secureConnection', (socket: Socket) => {
    openSockets.add(socket);
    socket.once('close', () => openSockets.delete(socket));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate?.();
    const entry = {
      method: req.method!,
      url: req.url!,
      rawHeaders: req.rawHeaders,
      body: Buffer.alloc(0),
      clientCertCn: peer?.subject?.CN as string | undefined,
    };
    seen.push(entry);
    if (options.streaming) return options.streaming(req, res);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      entry.body = Buffer.concat(chunks);
      handler(req, res, entry.body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const backend: TestBackend = {
    port,
    server,
    seen,
    openSockets,
    async start() {
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
    },
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const socket of openSockets) socket.destroy();
      await closed;
    },
  };
  return backend;
}

export const silentLog = pino({ level: 'silent' });

export interface SidecarUnderTest extends Sidecar {
  tlsDir: string;
  caFile: string;
}

export async function startTestSidecar(
  pki: TestPki,
  env: { upstreamPort: number; localPort?: number; failMode?: 'local' | 'closed'; extra?: Record<string, string> },
  options: SidecarOptions = {},
): Promise<SidecarUnderTest> {
  const tlsDir = writeTlsDir(pki);
  const caFile = join(tlsDir, 'ca.crt');
  const config = loadSidecarConfig({
    BRIDGE_UPSTREAM: `https://127.0.0.1:${env.upstreamPort}`,
    BRIDGE_LOCAL_APISERVER: env.localPort ? `127.0.0.1:${env.localPort}` : undefined,
    BRIDGE_LOCAL_CA_FILE: caFile,
    BRIDGE_FAIL_MODE: env.failMode ?? 'local',
    BRIDGE_TLS_DIR: tlsDir,
    BRIDGE_LISTEN_PORT: '0',
    BRIDGE_OPS_PORT: '0',
    BRIDGE_POD_NAME: 'app-0',
    BRIDGE_POD_NAMESPACE: 'team-a',
    BRIDGE_NODE_NAME: 'node-1',
    BRIDGE_CONNECT_TIMEOUT_MS: '2000',
    // Local routing (on by default with a local API server) only where a test asks for it.
    BRIDGE_LOCAL_ROUTING: 'off',
    ...env.extra,
  });
  const sidecar = await startSidecar(config, { log: silentLog, breakerPolicy: { baseOpenMs: 50, maxOpenMs: 200 }, ...options });
  return { ...sidecar, tlsDir, caFile };
}

export interface SimpleResponse {
  status: number;
  rawHeaders: string[];
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** One HTTPS request to the sidecar, trusting the test CA; a fresh connection unless an agent is given. */
export function callSidecar(
  port: number,
  pki: TestPki,
  init: { method?: string; path?: string; headers?: OutgoingHttpHeaders | string[]; body?: Buffer | string; agent?: import('node:https').Agent } = {},
): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: init.method ?? 'GET',
        path: init.path ?? '/api/v1/namespaces/default/configmaps/x',
        headers: init.headers,
        ca: pki.ca.certPem,
        agent: init.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, rawHeaders: res.rawHeaders, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

export function headerValues(rawHeaders: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === name.toLowerCase()) out.push(rawHeaders[i + 1]!);
  return out;
}
