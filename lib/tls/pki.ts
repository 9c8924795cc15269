/**
 * The project's PKI: certificate authorities and leaf certificates made with node-forge, keys made by
 * Node's crypto (native and fast). Used by the lab, the webhook's self-provisioning and `bridgectl certs`.
 */
import { generateKeyPair, randomBytes, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { BridgeError, errorMessage } from '../errors.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export interface KeyPair {
  publicKeyPem: string;
  privateKeyPem: string;
}

export interface CertificateAndKey {
  certPem: string;
  keyPem: string;
}

export type CertificateUsage = 'server' | 'client' | 'server-and-client';

export interface LeafSpec {
  commonName: string;
  organizations?: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
  usage: CertificateUsage;
  validityDays?: number;
  /** Defaults to now minus five minutes, to tolerate small clock skew between peers. */
  notBefore?: Date;
  notAfter?: Date;
}

const DEFAULT_CA_DAYS = 3650;
const DEFAULT_LEAF_DAYS = 365;
const CLOCK_SKEW_MS = 5 * 60 * 1000;

export async function generateRsaKeyPair(bits = 2048): Promise<KeyPair> {
  const { publicKey, privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return { publicKeyPem: publicKey, privateKeyPem: privateKey };
}

/**
 * A positive serial number from random bytes, always minimally encoded in DER: RFC 5280 asks for at
 * most 20 octets and no sign bit, and Go's crypto/x509 (kube-apiserver calling the webhook) rejects
 * a serial with a redundant leading zero octet ("x509: malformed serial number"), which node-forge
 * writes for hex that starts with 0000. Forcing the first byte into 0x01-0x7f rules out both.
 */
export function serialHexFrom(random: Uint8Array): string {
  const bytes = Buffer.from(random);
  bytes[0] = bytes[0]! & 0x7f || 0x01;
  return bytes.toString('hex');
}

function randomSerialHex(): string {
  return serialHexFrom(randomBytes(16));
}

function validity(spec: ValidityWindow, defaultDays: number) {
  const notBefore = spec.notBefore ?? new Date(Date.now() - CLOCK_SKEW_MS);
  const notAfter = spec.notAfter ?? new Date(notBefore.getTime() + (spec.validityDays ?? defaultDays) * 86_400_000);
  return { notBefore, notAfter };
}

/** A fresh key pair and an unsigned certificate for it with a random serial and the validity window. */
async function newCertificate(window: ValidityWindow, defaultDays: number) {
  const keys = await generateRsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKeyPem);
  cert.serialNumber = randomSerialHex();
  const { notBefore, notAfter } = validity(window, defaultDays);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  return { cert, keys };
}

export interface ValidityWindow {
  validityDays?: number;
  notBefore?: Date;
  notAfter?: Date;
}

export async function generateCa(commonName: string, options: ValidityWindow = {}): Promise<CertificateAndKey> {
  const { cert, keys } = await newCertificate(options, DEFAULT_CA_DAYS);
  const subject = [{ name: 'commonName', value: commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keys.privateKeyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privateKeyPem };
}

/**
 * An intermediate CA under `root` that may sign only one kind of leaf: its extended key usage holds
 * serverAuth or clientAuth alone, and verifiers (OpenSSL, Go's crypto/x509) refuse a chain whose CA
 * does not allow the purpose, whatever the leaf says. pathLen 0: it signs leaves, never another CA.
 * The certificate returned is the chain, intermediate then root, so that whoever holds it can hand
 * the intermediate to its leaves and the root to verifiers without holding the root's key.
 */
/** The names an intermediate may certify (RFC 5280 name constraints, permitted subtrees): exact DNS names, single IP addresses. */
export interface PermittedNames {
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
}

/** An IP address as a name constraint's base: the address, then an all-ones mask of its length (one address). */
function ipSubtreeBytes(ip: string): string {
  // node-forge has it (its subjectAltName code uses it); its type declarations do not.
  const address = (forge.util as unknown as { bytesFromIP(ip: string): string | null }).bytesFromIP(ip);
  if (!address) throw new BridgeError('BRIDGE_ERR_CERT', `not an IP address for a name constraint: ${ip}`);
  return address + '\xff'.repeat(address.length);
}

/** The nameConstraints extension (critical, permitted subtrees only): OpenSSL and Go's crypto/x509 both enforce it on every leaf below. */
function nameConstraintsExtension(permitted: PermittedNames) {
  const { asn1 } = forge;
  const subtree = (tag: number, bytes: string) =>
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [asn1.create(asn1.Class.CONTEXT_SPECIFIC, tag, false, bytes)]);
  const subtrees = [...permitted.dnsNames.map((name) => subtree(2, name)), ...permitted.ipAddresses.map((ip) => subtree(7, ipSubtreeBytes(ip)))];
  const value = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, subtrees)]);
  return { id: '2.5.29.30', critical: true, value };
}

export async function generateIntermediateCa(
  root: CertificateAndKey,
  commonName: string,
  usage: 'server' | 'client',
  options: ValidityWindow & { permitted?: PermittedNames } = {},
): Promise<CertificateAndKey> {
  const { caCert, caKey } = parseIssuer(root);
  assertCaCurrent(caCert, options.notBefore ?? new Date());
  const { cert, keys } = await newCertificate(
    { ...options, notAfter: options.notAfter ?? earliest(options, DEFAULT_CA_DAYS, caCert.validity.notAfter) },
    DEFAULT_CA_DAYS,
  );
  cert.setSubject([{ name: 'commonName', value: commonName }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'extKeyUsage', serverAuth: usage === 'server', clientAuth: usage === 'client' },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
    ...(options.permitted ? [nameConstraintsExtension(options.permitted)] : []),
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert) + splitPemBundle(root.certPem).join(''), keyPem: keys.privateKeyPem };
}

/** An intermediate outliving its root would verify nowhere after the root expires: end it with the root. */
function earliest(options: ValidityWindow, defaultDays: number, rootNotAfter: Date): Date {
  const { notAfter } = validity(options, defaultDays);
  return notAfter < rootNotAfter ? notAfter : rootNotAfter;
}

/** What a leaf presents above itself: its issuer's chain without the root (the verifier holds that). */
function presentedChain(issuerPem: string): string {
  return splitPemBundle(issuerPem)
    .filter((pem) => !isSelfSigned(pem))
    .join('');
}

function isSelfSigned(pem: string): boolean {
  const x509 = new X509Certificate(pem);
  return x509.subject === x509.issuer && x509.verify(x509.publicKey);
}

/** The self-signed certificates of a bundle: what a verifier anchors on (an issuer's chain ends with its root). */
export function trustAnchors(bundle: string): string {
  const roots = splitPemBundle(bundle).filter(isSelfSigned);
  return roots.length > 0 ? roots.join('') : bundle;
}

function parseIssuer(ca: CertificateAndKey): { caCert: forge.pki.Certificate; caKey: forge.pki.rsa.PrivateKey } {
  try {
    return { caCert: forge.pki.certificateFromPem(ca.certPem), caKey: forge.pki.privateKeyFromPem(ca.keyPem) as forge.pki.rsa.PrivateKey };
  } catch (err) {
    throw new BridgeError('BRIDGE_ERR_CERT', `cannot parse the CA certificate or key: ${errorMessage(err)}`, {
      fix: 'regenerate the CA with `bridgectl certs ca`',
      cause: err,
    });
  }
}

/** A leaf that starts outside its CA's validity window would never verify: refuse to issue it. */
function assertCaCurrent(caCert: forge.pki.Certificate, now: Date): void {
  const { notBefore, notAfter } = caCert.validity;
  if (now < notBefore || now > notAfter) {
    const when = now > notAfter ? `expired at ${notAfter.toISOString()}` : `is not valid before ${notBefore.toISOString()}`;
    throw new BridgeError('BRIDGE_ERR_CERT_EXPIRED', `the CA "${caCert.subject.getField('CN')?.value ?? '?'}" ${when}`, {
      fix: 'create a new CA with `bridgectl certs ca` (or check the clock), then reissue its certificates',
    });
  }
}

export async function issueCertificate(ca: CertificateAndKey, spec: LeafSpec): Promise<CertificateAndKey> {
  const { caCert, caKey } = parseIssuer(ca);
  assertCaCurrent(caCert, spec.notBefore ?? new Date());
  const { cert, keys } = await newCertificate(spec, DEFAULT_LEAF_DAYS);
  const subject: forge.pki.CertificateField[] = [{ name: 'commonName', value: spec.commonName }];
  for (const org of spec.organizations ?? []) subject.push({ name: 'organizationName', value: org });
  cert.setSubject(subject);
  cert.setIssuer(caCert.subject.attributes);
  const altNames = [...(spec.dnsNames ?? []).map((value) => ({ type: 2, value })), ...(spec.ipAddresses ?? []).map((ip) => ({ type: 7, ip }))];
  const extensions: object[] = [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    {
      name: 'extKeyUsage',
      serverAuth: spec.usage !== 'client',
      clientAuth: spec.usage !== 'server',
    },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ];
  if (altNames.length > 0) extensions.push({ name: 'subjectAltName', altNames });
  cert.setExtensions(extensions);
  cert.sign(caKey, forge.md.sha256.create());
  // A leaf of an intermediate presents the intermediate too: verifiers hold only the root.
  return { certPem: forge.pki.certificateToPem(cert) + presentedChain(ca.certPem), keyPem: keys.privateKeyPem };
}

export interface CertificateSummary {
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  serialNumber: string;
  dnsNames: string[];
  ipAddresses: string[];
  isCa: boolean;
}

export interface CertificateLifetime {
  notBefore: Date;
  notAfter: Date;
}

/** The validity window of the first certificate in a PEM string: the one way this code base reads it. */
export function certificateLifetime(certPem: string): CertificateLifetime {
  const { notBefore, notAfter } = describeCertificate(certPem);
  return { notBefore, notAfter };
}

/** Reads the first certificate of a PEM string (Node's parser, so it is checked independently of forge). */
export function describeCertificate(certPem: string): CertificateSummary {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch (err) {
    throw new BridgeError('BRIDGE_ERR_CERT', `cannot parse certificate: ${errorMessage(err)}`, { cause: err });
  }
  const sans = (x509.subjectAltName ?? '').split(', ').filter(Boolean);
  return {
    subject: x509.subject,
    issuer: x509.issuer,
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
    serialNumber: x509.serialNumber,
    dnsNames: sans.filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4)),
    ipAddresses: sans.filter((s) => s.startsWith('IP Address:')).map((s) => s.slice(11)),
    isCa: x509.ca,
  };
}

/** Splits a PEM bundle into its certificates. */
export function splitPemBundle(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((c) => `${c}\n`) ?? [];
}

/** The names a Service is reachable by from inside the cluster, in all four forms. */
export function serviceDnsNames(service: string, namespace: string, clusterDomain = 'cluster.local'): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.${clusterDomain}`];
}
