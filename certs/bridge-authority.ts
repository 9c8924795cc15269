/**
 * The bridge's certificate authorities (ADR 0021): a root whose key stays with whoever installs the
 * bridge, and three intermediates it signs: one for serving certificates, one for the sidecars' client
 * certificates, one for the bridge components' client certificates. Verifiers trust the root; each
 * intermediate's extended key usage lets it sign one kind only, so a client key never serves and a
 * serving key never authenticates; and the internal APIs accept a component only when its certificate
 * was issued by the components' intermediate (lib/tls/peer-certificate.ts), which the webhook never
 * holds: it issues sidecar leaves, so it must not be able to mint the aggregator's identity.
 */
import { BridgeError } from '../lib/errors.js';
import { generateCa, generateIntermediateCa, trustAnchors, type CertificateAndKey, type ValidityWindow } from '../lib/tls/pki.js';
import { ensurePemPair, readPemPairIfPresent, writePemPair } from './cert-files.js';

/** Each intermediate's common name: the issuer a verifier reads off a client leaf to tell a sidecar from a component. */
export const SERVING_CA_NAME = 'cluster-bridge-serving-ca';
export const SIDECAR_CLIENT_CA_NAME = 'cluster-bridge-client-ca';
export const COMPONENT_CLIENT_CA_NAME = 'cluster-bridge-component-client-ca';

/** What the webhook holds to provision labelled namespaces: serving and sidecar client leaves. Each certificate is its chain (intermediate, then root). */
export interface SidecarIssuers {
  serving: CertificateAndKey;
  /** The sidecars' client intermediate. */
  client: CertificateAndKey;
}

/** What an installer holds (`bridgectl certs`, the lab): also the components' client intermediate. */
export interface BridgeIssuers extends SidecarIssuers {
  component: CertificateAndKey;
}

type IntermediateRole = keyof BridgeIssuers;

const INTERMEDIATES: Record<IntermediateRole, { suffix: string; commonName: string; usage: 'server' | 'client' }> = {
  serving: { suffix: '-serving', commonName: SERVING_CA_NAME, usage: 'server' },
  client: { suffix: '-client', commonName: SIDECAR_CLIENT_CA_NAME, usage: 'client' },
  component: { suffix: '-component-client', commonName: COMPONENT_CLIENT_CA_NAME, usage: 'client' },
};
const ROLES = Object.keys(INTERMEDIATES) as IntermediateRole[];

/** The file base names in a CA folder: `<root>.crt|.key`, and `<root>-serving`, `<root>-client`, `<root>-component-client`. */
export function authorityFileNames(root = 'bridge-ca'): { root: string } & Record<IntermediateRole, string> {
  return { root, ...(Object.fromEntries(ROLES.map((role) => [role, `${root}${INTERMEDIATES[role].suffix}`])) as Record<IntermediateRole, string>) };
}

/** The root every verifier trusts: the self-signed end of the issuers' chains. */
export function bridgeRootPem(issuers: SidecarIssuers): string {
  return trustAnchors(issuers.serving.certPem);
}

function issueIntermediate(root: CertificateAndKey, role: IntermediateRole, options: ValidityWindow): Promise<CertificateAndKey> {
  const { commonName, usage } = INTERMEDIATES[role];
  return generateIntermediateCa(root, commonName, usage, options);
}

/** A new root and its intermediates, in memory. */
export async function generateBridgeAuthority(commonName: string, options: ValidityWindow = {}): Promise<{ root: CertificateAndKey; issuers: BridgeIssuers }> {
  const root = await generateCa(commonName, options);
  const [serving, client, component] = await Promise.all(ROLES.map((role) => issueIntermediate(root, role, options)));
  return { root, issuers: { serving: serving!, client: client!, component: component! } };
}

/** A new root and its intermediates, written to `dir` (keys 0600). */
export async function createBridgeAuthority(dir: string, commonName: string, name = 'bridge-ca', options: ValidityWindow = {}): Promise<BridgeIssuers> {
  const files = authorityFileNames(name);
  const { root, issuers } = await generateBridgeAuthority(commonName, options);
  writePemPair(dir, files.root, root);
  for (const role of ROLES) writePemPair(dir, files[role], issuers[role]);
  return issuers;
}

/**
 * The intermediates of the root in `dir` that are missing, issued and written (a folder from before an
 * intermediate existed); returns the roles added. Needs the root's key, so only where the installer keeps it.
 */
export async function addMissingIntermediates(dir: string, name = 'bridge-ca', options: ValidityWindow = {}): Promise<IntermediateRole[]> {
  const files = authorityFileNames(name);
  const missing = ROLES.filter((role) => !readPemPairIfPresent(dir, files[role]));
  if (missing.length === 0) return [];
  const root = readPemPairIfPresent(dir, files.root);
  if (!root)
    throw new BridgeError('BRIDGE_ERR_CERT', `${dir} has no root ${files.root}.crt|.key to issue ${missing.map((role) => files[role]).join(', ')} with`);
  for (const role of missing) writePemPair(dir, files[role], await issueIntermediate(root, role, options));
  return missing;
}

/** The lab's authority: made once, and intermediates added to a root made before they existed. */
export async function ensureBridgeAuthority(dir: string, commonName: string, name = 'bridge-ca'): Promise<BridgeIssuers> {
  await ensurePemPair(dir, authorityFileNames(name).root, () => generateCa(commonName));
  await addMissingIntermediates(dir, name);
  return readBridgeIssuers(dir, name);
}

function readIntermediates<R extends IntermediateRole>(dir: string, name: string, roles: readonly R[]): Record<R, CertificateAndKey> {
  const files = authorityFileNames(name);
  const found = Object.fromEntries(roles.map((role) => [role, readPemPairIfPresent(dir, files[role])]));
  const missing = roles.filter((role) => !found[role]);
  if (missing.length > 0) {
    throw new BridgeError('BRIDGE_ERR_CERT', `${dir} lacks the intermediates ${missing.map((role) => `${files[role]}.crt|.key`).join(' and ')}`, {
      fix: `add them with \`bridgectl certs ca --out ${dir} --add-missing\` (keeps the root and what it signed; needs ${files.root}.key)`,
    });
  }
  return found as Record<R, CertificateAndKey>;
}

/** Every intermediate in `dir`, as `bridgectl certs ca` wrote them (the root's key is not read). */
export function readBridgeIssuers(dir: string, name = 'bridge-ca'): BridgeIssuers {
  return readIntermediates(dir, name, ROLES);
}

/** The two the webhook's and the sidecars' certificates need (a folder without the components' intermediate will do). */
export function readSidecarIssuers(dir: string, name = 'bridge-ca'): SidecarIssuers {
  return readIntermediates(dir, name, ['serving', 'client'] as const);
}
