/**
 * Who is on the other end of an mTLS connection, as its verified client certificate says (DESIGN.md
 * section 4: each internal API accepts exactly the identities it serves, not anything the bridge root
 * signed). Sidecars carry the organization `cluster-bridge:sidecars` (and their namespace's); the
 * bridge's own components carry `cluster-bridge:components` and their Service name as the common name
 * (certs/bridge-certs.ts). Each kind counts only from its own intermediate (certs/bridge-authority.ts):
 * the webhook holds the sidecars' one, so a component certificate it minted is nobody.
 */
import type { TLSSocket } from 'node:tls';
import { COMPONENT_CLIENT_CA_NAME, SIDECAR_CLIENT_CA_NAME } from '../../certs/bridge-authority.js';
import { COMPONENT_CLIENT_ORGANIZATION, SIDECAR_CLIENT_ORGANIZATION, SIDECAR_NAMESPACE_ORGANIZATION_PREFIX } from '../../certs/bridge-certs.js';

export type BridgePeer = { kind: 'anonymous' } | { kind: 'sidecar'; namespace?: string } | { kind: 'component'; name: string };

type DistinguishedName = Record<string, string | string[]> | undefined;

/** The parts of a peer certificate the classification reads (node:tls's PeerCertificate has them). */
export interface PeerCertificateNames {
  subject?: DistinguishedName;
  issuer?: DistinguishedName;
}

function values(field: string | string[] | undefined): string[] {
  return field === undefined ? [] : Array.isArray(field) ? field : [field];
}

/**
 * Classifies a verified certificate. Its issuer's name is trustworthy once the chain verified against
 * the root: the leaf's signature was checked with the key of the CA so named, and the root signs no two
 * CAs under one name (pathLen 0 keeps an intermediate's holder from making CAs). A certificate the
 * server did not verify is anonymous.
 */
export function classifyPeer(authorized: boolean, certificate: PeerCertificateNames | undefined): BridgePeer {
  if (!authorized) return { kind: 'anonymous' };
  const orgs = values(certificate?.subject?.O);
  const names = values(certificate?.subject?.CN);
  const issuers = values(certificate?.issuer?.CN);
  const issuedBy = (ca: string) => issuers.length === 1 && issuers[0] === ca;
  // A certificate naming both kinds is nobody: the bridge never issues one.
  if (orgs.includes(SIDECAR_CLIENT_ORGANIZATION) === orgs.includes(COMPONENT_CLIENT_ORGANIZATION)) return { kind: 'anonymous' };
  if (orgs.includes(SIDECAR_CLIENT_ORGANIZATION)) {
    if (!issuedBy(SIDECAR_CLIENT_CA_NAME)) return { kind: 'anonymous' };
    const namespace = orgs.find((o) => o.startsWith(SIDECAR_NAMESPACE_ORGANIZATION_PREFIX))?.slice(SIDECAR_NAMESPACE_ORGANIZATION_PREFIX.length);
    return namespace ? { kind: 'sidecar', namespace } : { kind: 'sidecar' };
  }
  return issuedBy(COMPONENT_CLIENT_CA_NAME) && names.length === 1 ? { kind: 'component', name: names[0]! } : { kind: 'anonymous' };
}

export function bridgePeer(socket: TLSSocket): BridgePeer {
  if (!socket.authorized) return { kind: 'anonymous' };
  return classifyPeer(true, socket.getPeerCertificate() as PeerCertificateNames);
}

/** True only for the named component's client certificate. */
export function isComponent(peer: BridgePeer, name: string): boolean {
  return peer.kind === 'component' && peer.name === name;
}

/** How a refusal names the caller, for logs and the 403's message (never the certificate itself). */
export function describePeer(peer: BridgePeer): string {
  return peer.kind === 'component'
    ? `the component ${peer.name}`
    : peer.kind === 'sidecar'
      ? 'a sidecar'
      : 'a caller with no client identity the bridge issued';
}
