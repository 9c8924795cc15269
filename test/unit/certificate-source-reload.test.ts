// The one certificate source of all four servers (issue 23) serves TLS files again when they change
// (issue 21: the aggregator and the synchronizer read them once, so a renewed certificate needed a
// restart). A real HTTPS server, real files, and a new connection to see what is served.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import {
  loggedReload,
  readTlsFiles,
  reloadServerTls,
  serverContext,
  tlsDirPaths,
  tlsFileSource,
  type ReloadLoop,
  type TlsFilePaths,
} from '../../lib/tls/certificate-source.js';
import { generateCa, issueCertificate, type CertificateAndKey } from '../../lib/tls/pki.js';
import { waitUntil } from '../../lib/wait-until.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';

let ca: CertificateAndKey;
let dir: string;
let paths: TlsFilePaths;
let server: Server;
let reload: ReloadLoop;
const swapped: string[] = [];

const serving = () => issueCertificate(ca, { commonName: 'component', ipAddresses: ['127.0.0.1'], usage: 'server' });
function write(pair: CertificateAndKey): void {
  writeFileSync(paths.certFile, pair.certPem);
  writeFileSync(paths.keyFile, pair.keyPem);
}

/** The serial of the certificate a new connection is served. */
function servedSerial(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ca: ca.certPem }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

beforeAll(async () => {
  ca = await generateCa('reload-ca');
  dir = mkdtempSync(join(tmpdir(), 'component-tls-'));
  const { certFile, keyFile, caFile } = tlsDirPaths(dir);
  paths = { certFile, keyFile, caFile };
  writeFileSync(caFile, ca.certPem);
  write(await serving());
  const tls = readTlsFiles(paths);
  server = createServer({ ...serverContext(tls), requestCert: true, rejectUnauthorized: false }, (_req, res) => res.end());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  reload = reloadServerTls(
    server,
    tlsFileSource(paths),
    tls,
    serverContext,
    loggedReload(silentLog, 'test', (next) => swapped.push(next.cert)),
    50,
  );
});

afterAll(() => {
  reload?.close();
  server?.close();
});

const serialOf = (pem: string) => new X509Certificate(pem).serialNumber;

describe('reloadServerTls', () => {
  it('serves a renewed certificate to new connections without a restart, and tells the client pair holder', async () => {
    const before = await servedSerial();
    const renewed = await serving();
    write(renewed);
    await waitUntil('the renewed certificate to be served', async () => (await servedSerial()) !== before, { timeoutMs: 10_000 });
    expect((await servedSerial()).toUpperCase()).toBe(serialOf(renewed.certPem).toUpperCase());
    expect(swapped.at(-1)).toBe(renewed.certPem);
  });

  it('keeps serving the current certificate when the new files do not load (a key that does not match)', async () => {
    const current = await servedSerial();
    writeFileSync(paths.keyFile, (await serving()).keyPem); // half a rotation: the old certificate, a new key
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await servedSerial()).toBe(current);
  });
});
