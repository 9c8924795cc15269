// The authority's folder (`bridgectl certs ca`): the root and four intermediates, each its own chain;
// issuing reads only what it needs; a folder from before the components' intermediates existed gets
// them added under the same root (`--add-missing`), so nothing issued before must be issued again.
import { describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  addMissingIntermediates,
  authorityFileNames,
  COMPONENT_CLIENT_CA_NAME,
  createBridgeAuthority,
  readBridgeIssuers,
  readSidecarIssuers,
  SIDECAR_CLIENT_CA_NAME,
} from '../../certs/bridge-authority.js';
import { splitPemBundle } from '../../lib/tls/pki.js';

const files = authorityFileNames();
const subjectOf = (pem: string) => new X509Certificate(splitPemBundle(pem)[0]!).subject;

describe('the bridge authority folder', () => {
  it("holds four intermediates of one root: the sidecars' serving and client ones, the components' serving and client ones", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'authority-'));
    try {
      const issuers = await createBridgeAuthority(dir, 'files-test-ca');
      const root = new X509Certificate(readFileSync(join(dir, `${files.root}.crt`)));
      for (const role of ['serving', 'client', 'componentServing', 'componentClient'] as const) {
        const [intermediate, chainRoot] = splitPemBundle(issuers[role].certPem);
        expect(new X509Certificate(intermediate!).verify(root.publicKey)).toBe(true);
        expect(new X509Certificate(chainRoot!).fingerprint256).toBe(root.fingerprint256);
      }
      expect(subjectOf(issuers.client.certPem)).toBe(`CN=${SIDECAR_CLIENT_CA_NAME}`);
      expect(subjectOf(issuers.componentClient.certPem)).toBe(`CN=${COMPONENT_CLIENT_CA_NAME}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('adds a missing intermediate under the same root, and leaves the others as they were', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'authority-'));
    try {
      const before = await createBridgeAuthority(dir, 'files-test-ca');
      for (const base of [files.componentServing, files.componentClient]) for (const ext of ['crt', 'key']) rmSync(join(dir, `${base}.${ext}`));
      // The webhook's and the sidecars' certificates still issue; a component's names what is missing and how to add it.
      expect(readSidecarIssuers(dir).client.certPem).toBe(before.client.certPem);
      const refusal = (() => {
        try {
          readBridgeIssuers(dir);
        } catch (err) {
          return err;
        }
      })();
      expect(refusal).toMatchObject({
        code: 'BRIDGE_ERR_CERT',
        message: expect.stringContaining('lacks the intermediates bridge-ca-component-serving.crt|.key and bridge-ca-component-client.crt|.key'),
        fix: expect.stringContaining('--add-missing'),
      });

      expect(await addMissingIntermediates(dir)).toEqual(['componentServing', 'componentClient']);
      const after = readBridgeIssuers(dir);
      expect([after.serving.certPem, after.client.certPem]).toEqual([before.serving.certPem, before.client.certPem]);
      expect(after.componentClient.certPem).not.toBe(before.componentClient.certPem);
      expect(splitPemBundle(after.componentClient.certPem)[1]).toBe(splitPemBundle(before.serving.certPem)[1]);
      expect(await addMissingIntermediates(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cannot add one without the root key, and says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'authority-'));
    try {
      await createBridgeAuthority(dir, 'files-test-ca');
      for (const base of [files.root, files.componentClient]) for (const ext of ['crt', 'key']) rmSync(join(dir, `${base}.${ext}`));
      await expect(addMissingIntermediates(dir)).rejects.toMatchObject({
        code: 'BRIDGE_ERR_CERT',
        message: expect.stringContaining('has no root bridge-ca.crt|.key'),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
