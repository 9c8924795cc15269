/**
 * Who is on the other end of an mTLS connection, as its verified client certificate says (DESIGN.md
 * section 4: each internal API accepts exactly the identities it serves, not anything the bridge CA
 * signed). Sidecars carry the organization `cluster-bridge:sidecars`; the bridge's own components
 * carry `cluster-bridge:components` and their Service name as the common name (certs/bridge-certs.ts).
 */
import type { TLSSocket } from 'node:tls';
import { COMPONENT_CLIENT_ORGANIZATION, SIDECAR_CLIENT_ORGANIZATION } from '../../certs/bridge-certs.js';

export type BridgePeer = { kind: 'anonymous' } | { kind: 'sidecar' } | { kind: 'component'; name: string };

function values(field: string | string[] | undefined): string[] {
  return field === undefined ? [] : Array.isArray(field) ? field : [field];
}

/** Classifies a verified certificate's subject; a certificate the server did not verify is anonymous. */
export function classifyPeer(authorized: boolean, subject: Record<string, string | string[]> | undefined): BridgePeer {
  if (!authorized) return { kind: 'anonymous' };
  const orgs = values(subject?.O);
  const names = values(subject?.CN);
  // A certificate naming both kinds is nobody: the bridge never issues one.
  if (orgs.includes(SIDECAR_CLIENT_ORGANIZATION) === orgs.includes(COMPONENT_CLIENT_ORGANIZATION)) return { kind: 'anonymous' };
  if (orgs.includes(SIDECAR_CLIENT_ORGANIZATION)) return { kind: 'sidecar' };
  return names.length === 1 ? { kind: 'component', name: names[0]! } : { kind: 'anonymous' };
}

export function bridgePeer(socket: TLSSocket): BridgePeer {
  if (!socket.authorized) return { kind: 'anonymous' };
  return classifyPeer(true, socket.getPeerCertificate().subject as Record<string, string | string[]> | undefined);
}

/** True only for the named component's client certificate. */
export function isComponent(peer: BridgePeer, name: string): boolean {
  return peer.kind === 'component' && peer.name === name;
}

/** How a refusal names the caller, for logs and the 403's message (never the certificate itself). */
export function describePeer(peer: BridgePeer): string {
  return peer.kind === 'component' ? `the component ${peer.name}` : peer.kind === 'sidecar' ? 'a sidecar' : 'a caller without a bridge client certificate';
}
