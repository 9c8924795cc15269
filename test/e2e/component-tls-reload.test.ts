// A running synchronizer on the lab serves a renewed certificate without a restart (issue 21: the
// aggregator and the synchronizer read their TLS files once). The files are replaced as a Secret
// volume's would be, and a new connection to the catch-up port is served the new certificate.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { labSynchronizerEnv, throwawayTls } from '../../lab/local-synchronizer.js';
import { issueCertificate, type CertificateAndKey } from '../../lib/tls/pki.js';
import { waitUntil } from '../../lib/wait-until.js';
import { loadSyncConfig } from '../../synchronizer/config.js';
import { startSynchronizer, type RunningSynchronizer } from '../../synchronizer/server.js';
import { uniqueName } from '../helpers/lab-clients.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';

let sync: RunningSynchronizer;
let ca: CertificateAndKey;
let dir: string;

function servedSerial(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: sync.port, ca: ca.certPem }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

beforeAll(async () => {
  const tls = await throwawayTls('sync-reload');
  ({ ca, dir } = tls);
  const env = { ...(await labSynchronizerEnv('sync-reload', ['podtemplates'])), BRIDGE_TLS_DIR: dir };
  sync = await startSynchronizer({ ...loadSyncConfig(env), leaseName: uniqueName('sync-reload') }, silentLog);
}, 120_000);

afterAll(async () => {
  await sync?.close();
}, 60_000);

describe("the synchronizer's catch-up port", () => {
  it('serves a renewed certificate to new connections, without a restart', async () => {
    const before = await servedSerial();
    const renewed = await issueCertificate(ca, { commonName: 'sync-reload', ipAddresses: ['127.0.0.1'], usage: 'server' });
    writeFileSync(join(dir, 'tls.key'), renewed.keyPem);
    writeFileSync(join(dir, 'tls.crt'), renewed.certPem);
    const expected = new X509Certificate(renewed.certPem).serialNumber.toUpperCase();
    // The folder is watched; the poll (5 s) is the safety net.
    const served = await waitUntil('the renewed certificate served', async () => ((await servedSerial()).toUpperCase() === expected ? expected : undefined), {
      timeoutMs: 20_000,
    }).catch(() => servedSerial());
    expect(served.toUpperCase()).toBe(expected);
    expect(served).not.toBe(before);
  });
});
