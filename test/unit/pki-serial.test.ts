// Certificate serials must parse in Go (kube-apiserver calls the webhook with crypto/x509). node-forge
// alone accepts what Go rejects, so the edge values go through a real Go parse.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import forge from 'node-forge';
import { repoRoot } from '../../lib/process/paths.js';
import { serialHexFrom } from '../../lib/tls/pki.js';

function selfSignedWithSerial(serialHex: string, keys: forge.pki.rsa.KeyPair): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialHex;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 3_600_000);
  cert.setSubject([{ name: 'commonName', value: 'serial-edge' }]);
  cert.setIssuer([{ name: 'commonName', value: 'serial-edge' }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

function goParse(pem: string): string[] {
  const program = join(repoRoot(), 'test', 'helpers', 'go', 'x509-parse', 'main.go');
  return execFileSync('go', ['run', program], { input: pem, env: { ...process.env, GOFLAGS: '-mod=mod', GO111MODULE: 'off' } })
    .toString()
    .trim()
    .split('\n');
}

const edge = (...head: number[]) => Uint8Array.from([...head, ...new Array<number>(16 - head.length).fill(0x11)]);

describe('certificate serial numbers', () => {
  const cases: [string, Uint8Array][] = [
    ['00 00 11 (two zero bytes: forge writes a redundant zero octet)', edge(0x00, 0x00, 0x11)],
    ['00 00 00 7f', edge(0x00, 0x00, 0x00, 0x7f)],
    ['00 7f', edge(0x00, 0x7f)],
    ['00 80', edge(0x00, 0x80)],
    ['80 00 (sign bit)', edge(0x80, 0x00)],
    ['ff ff', edge(0xff, 0xff)],
    ['7f ff', edge(0x7f, 0xff)],
    ['01 00', edge(0x01, 0x00)],
  ];

  it('keeps every serial positive, 16 bytes, with a first byte in 0x01-0x7f', () => {
    for (const [, bytes] of cases) {
      const hex = serialHexFrom(bytes);
      expect(hex).toHaveLength(32);
      const first = parseInt(hex.slice(0, 2), 16);
      expect(first).toBeGreaterThanOrEqual(0x01);
      expect(first).toBeLessThanOrEqual(0x7f);
    }
  });

  it('every edge value parses in Go crypto/x509 with the serial we chose', () => {
    const keys = forge.pki.rsa.generateKeyPair({ bits: 1024, e: 0x10001 });
    const serials = cases.map(([, bytes]) => serialHexFrom(bytes));
    const lines = goParse(serials.map((serial) => selfSignedWithSerial(serial, keys)).join(''));
    expect(lines).toEqual(serials.map((serial) => `ok ${serial.replace(/^0+/, '')}`));
  });

  it('the Go parse is a real check: a serial with a redundant zero octet is rejected', () => {
    const keys = forge.pki.rsa.generateKeyPair({ bits: 1024, e: 0x10001 });
    const [line] = goParse(selfSignedWithSerial(`0000${'11'.repeat(14)}`, keys));
    expect(line).toMatch(/^error .*malformed serial number/);
  });
});
