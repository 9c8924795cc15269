// The sidecars' serving intermediate certifies loopback names only (RFC 5280 name constraints): the
// webhook holds it to give every labelled namespace a loopback serving certificate, and with it alone
// could otherwise serve as the aggregator to every sidecar. Real X.509 and real TLS handshakes (OpenSSL).
import { beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { generateBridgeAuthority, LOOPBACK_NAMES, type BridgeIssuers } from '../../certs/bridge-authority.js';
import { issueSidecarServingCert, issueWebhookServingCert } from '../../certs/bridge-certs.js';
import { AGGREGATOR_SERVICE } from '../../lib/names.js';
import { issueCertificate, splitPemBundle, type CertificateAndKey } from '../../lib/tls/pki.js';
import { serverVerdict } from '../helpers/tls-verdicts.js';

let root: CertificateAndKey;
let issuers: BridgeIssuers;

beforeAll(async () => {
  ({ root, issuers } = await generateBridgeAuthority('loopback-constraints-root'));
});

const serves = (pair: CertificateAndKey) => serverVerdict(pair, root.certPem);

describe("the sidecars' serving intermediate", () => {
  it('carries a critical nameConstraints extension; the components’ serving intermediate none', () => {
    const constrained = new X509Certificate(splitPemBundle(issuers.serving.certPem)[0]!);
    const free = new X509Certificate(splitPemBundle(issuers.componentServing.certPem)[0]!);
    // 2.5.29.30, critical, in DER: 06 03 55 1d 1e 01 01 ff.
    expect(constrained.raw.includes(Buffer.from('0603551d1e0101ff', 'hex'))).toBe(true);
    expect(free.raw.includes(Buffer.from('0603551d1e', 'hex'))).toBe(false);
    expect(LOOPBACK_NAMES).toEqual({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] });
  });

  it("issues a sidecar's loopback serving certificate that clients accept (the control)", async () => {
    expect(await serves(await issueSidecarServingCert(issuers.serving))).toBeUndefined();
  });

  it("issues nothing a client accepts for the aggregator's names, even beside loopback ones", async () => {
    const aggregatorNames = { serviceName: AGGREGATOR_SERVICE, ipAddresses: ['10.96.0.20'] };
    expect(await serves(await issueWebhookServingCert(issuers.serving, aggregatorNames))).toBe('permitted subtree violation');
    const otherAddress = await issueCertificate(issuers.serving, { commonName: 'localhost', ipAddresses: ['127.0.0.1', '10.96.0.20'], usage: 'server' });
    expect(await serves(otherAddress)).toBe('permitted subtree violation');
    // The same names from the components' serving intermediate serve: the refusal is the constraint's.
    expect(await serves(await issueWebhookServingCert(issuers.componentServing, aggregatorNames))).toBeUndefined();
  });
});
