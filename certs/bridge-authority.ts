/**
 * The bridge's certificate authorities (ADR 0021): a root whose key stays with whoever installs the
 * bridge, and two intermediates it signs, one for serving certificates and one for client
 * certificates. Verifiers trust the root; each intermediate's extended key usage lets it sign one kind
 * only, so a client key never serves and a serving key never authenticates. Whoever issues leaves
 * (the webhook for labelled namespaces, `bridgectl certs`) holds the intermediates, never the root key.
 */
import { BridgeError } from '../lib/errors.js';
import { generateCa, generateIntermediateCa, trustAnchors, type CertificateAndKey, type ValidityWindow } from '../lib/tls/pki.js';
import { ensurePemPair, readPemPairIfPresent, writePemPair } from './cert-files.js';

/** The two issuing CAs; each certificate is its chain (intermediate, then root). */
export interface BridgeIssuers {
  serving: CertificateAndKey;
  client: CertificateAndKey;
}

/** The file base names in a CA folder: `<root>.crt|.key`, `<root>-serving.crt|.key`, `<root>-client.crt|.key`. */
export function authorityFileNames(root = 'bridge-ca'): { root: string; serving: string; client: string } {
  return { root, serving: `${root}-serving`, client: `${root}-client` };
}

/** The root every verifier trusts: the self-signed end of the issuers' chains. */
export function bridgeRootPem(issuers: BridgeIssuers): string {
  return trustAnchors(issuers.serving.certPem);
}

/** The serving and the client intermediate of `root`. */
export function issueIntermediates(root: CertificateAndKey, options: ValidityWindow = {}): Promise<[CertificateAndKey, CertificateAndKey]> {
  return Promise.all([
    generateIntermediateCa(root, 'cluster-bridge-serving-ca', 'server', options),
    generateIntermediateCa(root, 'cluster-bridge-client-ca', 'client', options),
  ]);
}

/** A new root and its two intermediates, in memory. */
export async function generateBridgeAuthority(commonName: string, options: ValidityWindow = {}): Promise<{ root: CertificateAndKey; issuers: BridgeIssuers }> {
  const root = await generateCa(commonName, options);
  const [serving, client] = await issueIntermediates(root, options);
  return { root, issuers: { serving, client } };
}

/** A new root and its two intermediates, written to `dir` (keys 0600). */
export async function createBridgeAuthority(dir: string, commonName: string, name = 'bridge-ca', options: ValidityWindow = {}): Promise<BridgeIssuers> {
  const files = authorityFileNames(name);
  const { root, issuers } = await generateBridgeAuthority(commonName, options);
  const { serving, client } = issuers;
  writePemPair(dir, files.root, root);
  writePemPair(dir, files.serving, serving);
  writePemPair(dir, files.client, client);
  return { serving, client };
}

/** The lab's authority: made once, and intermediates added to a root made before they existed. */
export async function ensureBridgeAuthority(dir: string, commonName: string, name = 'bridge-ca'): Promise<BridgeIssuers> {
  const files = authorityFileNames(name);
  const root = await ensurePemPair(dir, files.root, () => generateCa(commonName));
  const existing = readPemPairIfPresent(dir, files.serving) && readPemPairIfPresent(dir, files.client);
  if (!existing) {
    const [serving, client] = await issueIntermediates(root);
    writePemPair(dir, files.serving, serving);
    writePemPair(dir, files.client, client);
  }
  return readBridgeIssuers(dir, name);
}

/** The two intermediates in `dir`, as `bridgectl certs ca` wrote them (the root's key is not read). */
export function readBridgeIssuers(dir: string, name = 'bridge-ca'): BridgeIssuers {
  const files = authorityFileNames(name);
  const serving = readPemPairIfPresent(dir, files.serving);
  const client = readPemPairIfPresent(dir, files.client);
  if (!serving || !client) {
    throw new BridgeError('BRIDGE_ERR_CERT', `${dir} lacks the intermediates ${files.serving}.crt|.key and ${files.client}.crt|.key`, {
      fix: `create them with \`bridgectl certs ca --out ${dir}\` (a folder from before ADR 0021 holds only the root)`,
    });
  }
  return { serving, client };
}
