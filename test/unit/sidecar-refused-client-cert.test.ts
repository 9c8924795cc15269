/**
 * An upstream that refuses the sidecar's client certificate. Under TLS 1.2 the refusal ends the
 * handshake; under TLS 1.3 the client finishes its side first and learns of the refusal only from an
 * alert or a reset after it may have written the request. Either way the upstream processed nothing,
 * so the request goes to the local API server (fail mode local) instead of getting a 502.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SecureVersion } from 'node:tls';
import { generateCa } from '../../lib/tls/pki.js';
import { callSidecar, startTestBackend, startTestSidecar, testPki, type TestBackend, type TestPki } from '../helpers/sidecar-fixtures.js';

/** Requires a client certificate from a CA the sidecar's certificate does not chain to. */
async function refusingUpstream(pki: TestPki, maxVersion: SecureVersion): Promise<{ port: number; requests: number; server: Server }> {
  const otherCa = await generateCa('only-this-ca-is-accepted');
  const state = { port: 0, requests: 0, server: undefined as unknown as Server };
  state.server = createServer(
    { cert: pki.backend.certPem, key: pki.backend.keyPem, ca: otherCa.certPem, requestCert: true, rejectUnauthorized: true, maxVersion },
    (_req, res) => {
      state.requests++;
      res.end('{}');
    },
  );
  state.server.listen(0, '127.0.0.1');
  await once(state.server, 'listening');
  state.port = (state.server.address() as AddressInfo).port;
  return state;
}

describe('an upstream that refuses the client certificate', () => {
  let pki: TestPki;
  let local: TestBackend;
  beforeAll(async () => {
    pki = await testPki();
    local = await startTestBackend(pki);
  });
  afterAll(async () => {
    await local.stop();
  });

  it.each<SecureVersion>(['TLSv1.2', 'TLSv1.3'])('under %s: the request goes to the local API server, never a 502', async (maxVersion) => {
    const upstream = await refusingUpstream(pki, maxVersion);
    const sidecar = await startTestSidecar(pki, { upstreamPort: upstream.port, localPort: local.port, failMode: 'local' });
    try {
      const before = local.seen.length;
      for (const method of ['GET', 'POST']) {
        const answer = await callSidecar(sidecar.port, pki, { method, path: '/api/v1/namespaces/n/configmaps', body: method === 'POST' ? '{}' : undefined });
        expect({ method, status: answer.status }).toEqual({ method, status: 200 });
      }
      expect(local.seen.length - before).toBe(2);
      expect(upstream.requests).toBe(0);
    } finally {
      await sidecar.shutdown(1000);
      upstream.server.closeAllConnections();
      upstream.server.close();
    }
  });
});
