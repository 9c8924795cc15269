/**
 * The bridge's certificate authorities (ADR 0021): a root whose key stays with whoever installs the
 * bridge, and four intermediates it signs, each limited to one extended key usage (a client key never
 * serves, a serving key never authenticates) and each held by whom needs it:
 * - the sidecars' serving intermediate (`serving`), name-constrained to loopback, and the sidecars'
 *   client intermediate (`client`): the webhook holds both to provision labelled namespaces;
 * - the components' serving and client intermediates: only the installer (`bridgectl certs`).
 * So a compromised webhook can neither serve as the aggregator (its serving intermediate certifies
 * 127.0.0.1, ::1 and localhost only) nor authenticate as one (internal APIs accept a component only
 * from the components' client intermediate, lib/tls/peer-certificate.ts). Verifiers trust the root.
 */
import { BridgeError } from '../lib/errors.js';
import { generateCa, generateIntermediateCa, trustAnchors, type CertificateAndKey, type PermittedNames, type ValidityWindow } from '../lib/tls/pki.js';
import { ensurePemPair, readPemPairIfPresent, writePemPair } from './cert-files.js';

/** Each intermediate's common name: the issuer a verifier reads off a client leaf to tell a sidecar from a component. */
export const SIDECAR_SERVING_CA_NAME = 'cluster-bridge-serving-ca';
export const SIDECAR_CLIENT_CA_NAME = 'cluster-bridge-client-ca';
export const COMPONENT_SERVING_CA_NAME = 'cluster-bridge-component-serving-ca';
export const COMPONENT_CLIENT_CA_NAME = 'cluster-bridge-component-client-ca';

/** The names a sidecar's loopback serving certificate carries, and all its intermediate may certify. */
export const LOOPBACK_NAMES: PermittedNames = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] };

/** What the webhook holds to provision labelled namespaces. Each certificate is its chain (intermediate, then root). */
export interface SidecarIssuers {
  /** The sidecars' serving intermediate: loopback names only. */
  serving: CertificateAndKey;
  /** The sidecars' client intermediate. */
  client: CertificateAndKey;
}

/** What an installer holds (`bridgectl certs`, the lab): also the components' intermediates. */
export interface BridgeIssuers extends SidecarIssuers {
  componentServing: CertificateAndKey;
  componentClient: CertificateAndKey;
}

type IntermediateRole = keyof BridgeIssuers;

const INTERMEDIATES: Record<IntermediateRole, { suffix: string; commonName: string; usage: 'server' | 'client'; permitted?: PermittedNames }> = {
  serving: { suffix: '-serving', commonName: SIDECAR_SERVING_CA_NAME, usage: 'server', permitted: LOOPBACK_NAMES },
  client: { suffix: '-client', commonName: SIDECAR_CLIENT_CA_NAME, usage: 'client' },
  componentServing: { suffix: '-component-serving', commonName: COMPONENT_SERVING_CA_NAME, usage: 'server' },
  componentClient: { suffix: '-component-client', commonName: COMPONENT_CLIENT_CA_NAME, usage: 'client' },
};
const ROLES = Object.keys(INTERMEDIATES) as IntermediateRole[];

/** The file base names in a CA folder: `<root>.crt|.key`, and `<root>-serving`, `-client`, `-component-serving`, `-component-client`. */
export function authorityFileNames(root = 'bridge-ca'): { root: string } & Record<IntermediateRole, string> {
  return { root, ...(Object.fromEntries(ROLES.map((role) => [role, `${root}${INTERMEDIATES[role].suffix}`])) as Record<IntermediateRole, string>) };
}

/** The root every verifier trusts: the self-signed end of the issuers' chains. */
export function bridgeRootPem(issuers: SidecarIssuers): string {
  return trustAnchors(issuers.serving.certPem);
}

function issueIntermediate(root: CertificateAndKey, role: IntermediateRole, options: ValidityWindow): Promise<CertificateAndKey> {
  const { commonName, usage, permitted } = INTERMEDIATES[role];
  return generateIntermediateCa(root, commonName, usage, { ...options, ...(permitted ? { permitted } : {}) });
}

/** A new root and its intermediates, in memory. */
export async function generateBridgeAuthority(commonName: string, options: ValidityWindow = {}): Promise<{ root: CertificateAndKey; issuers: BridgeIssuers }> {
  const root = await generateCa(commonName, options);
  const issued = await Promise.all(ROLES.map(async (role) => [role, await issueIntermediate(root, role, options)] as const));
  return { root, issuers: Object.fromEntries(issued) as unknown as BridgeIssuers };
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

/** The two the webhook's and the sidecars' certificates need (a folder without the components' intermediates will do). */
export function readSidecarIssuers(dir: string, name = 'bridge-ca'): SidecarIssuers {
  return readIntermediates(dir, name, ['serving', 'client'] as const);
}
