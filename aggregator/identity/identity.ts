/**
 * Who is calling (DESIGN.md section 4), from the connection and the headers: a sidecar's client
 * certificate and namespace, the bearer token, and the `Impersonate-*` headers read exactly as
 * kube-apiserver reads them. What the source says about the caller is source-authenticator.ts's job.
 * Identity headers from a sidecar are trusted only with a sidecar client certificate, and its
 * namespace comes from the certificate.
 */
import type { TLSSocket } from 'node:tls';
import { bridgePeer } from '../../lib/tls/peer-certificate.js';
import { BRIDGE_HEADER_PREFIX, BRIDGE_NAMESPACE_HEADER } from '../../lib/names.js';
import { goUnescape } from '../../lib/routing/go-url.js';
import { serviceAccountOf } from './user-names.js';

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
}

/** What the client asked to be, as kube-apiserver reads the Impersonate-* headers. */
export interface WantedUser {
  /** The first Impersonate-User value; never empty (an empty one is no impersonation). */
  name: string;
  /** The first Impersonate-Uid value, or empty. */
  uid: string;
  /** Every Impersonate-Group value (an empty one included). */
  groups: string[];
  extra: Record<string, string[]>;
  /** An Impersonate-Group header was present. */
  groupsSpecified: boolean;
}

export interface PeerIdentity {
  /** The connection presented a valid sidecar client certificate. */
  sidecar: boolean;
  /** The namespace the certificate was issued for, when it names one. */
  namespace?: string;
}

/** One answer per connection: getPeerCertificate() rebuilds the certificate and three fingerprints on every call. */
const peers = new WeakMap<TLSSocket, PeerIdentity>();

/** The peer as its client certificate says (the server verified the chain against the bridge CA). */
export function peerIdentity(socket: TLSSocket): PeerIdentity {
  let peer = peers.get(socket);
  if (!peer) {
    peer = certificateIdentity(socket);
    peers.set(socket, peer);
  }
  return peer;
}

/** A sidecar only with a sidecar client certificate from the sidecars' intermediate (lib/tls/peer-certificate.ts). */
function certificateIdentity(socket: TLSSocket): PeerIdentity {
  const peer = bridgePeer(socket);
  if (peer.kind !== 'sidecar') return { sidecar: false };
  return peer.namespace ? { sidecar: true, namespace: peer.namespace } : { sidecar: true };
}

/**
 * `malformed`: groups, a uid or extras without a user, which the source's filter answers 400 (worded
 * per release): such a request goes to the source, which gives that answer before any handler runs.
 */
export type HeaderVerdict = { ok: true; impersonation: ImpersonationRequest | 'malformed' | undefined } | { ok: false; message: string };

export type ImpersonationRequest = WantedUser;

const EXTRA_PREFIX = 'impersonate-extra-';

/** The key of an Impersonate-Extra-* header: lower-cased, then path-unescaped (kept as sent when that fails). */
function extraKey(lowerName: string): string {
  const encoded = lowerName.slice(EXTRA_PREFIX.length);
  return goUnescape(encoded, false) ?? encoded;
}

/**
 * Checks the identity headers of one request against its peer, in one pass: client X-Remote-* is
 * always refused (front-proxy headers only the API server's own proxy may set), X-Bridge-* only from
 * a sidecar, and a sidecar's X-Bridge-Namespace must match its certificate. Impersonate-* is read as
 * http.Header.Get reads it: the first User and Uid count, an empty User is no impersonation.
 */
export function checkIdentityHeaders(rawHeaders: readonly string[], peer: PeerIdentity): HeaderVerdict {
  const wanted = new ImpersonationHeaders();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    if (name.startsWith('x-remote-')) return { ok: false, message: `the ${rawHeaders[i]} header is not accepted from clients` };
    if (name.startsWith(BRIDGE_HEADER_PREFIX)) {
      if (!peer.sidecar)
        return { ok: false, message: `the ${rawHeaders[i]} header is accepted only from a cluster-bridge sidecar with its client certificate` };
      if (name === BRIDGE_NAMESPACE_HEADER.toLowerCase() && peer.namespace !== undefined && value !== peer.namespace) {
        return { ok: false, message: `a sidecar certificate of namespace "${peer.namespace}" cannot claim namespace "${value}"` };
      }
      continue;
    }
    if (name.startsWith('impersonate-')) wanted.add(name, value);
  }
  return { ok: true, impersonation: wanted.request() };
}

/** The Impersonate-* headers of one request, gathered as processImpersonationHeaders gathers them. */
class ImpersonationHeaders {
  private user: string | undefined;
  private uid: string | undefined;
  private readonly groups: string[] = [];
  private groupsSpecified = false;
  private extraSpecified = false;
  private readonly extra: Record<string, string[]> = {};

  add(lowerName: string, value: string): void {
    if (lowerName === 'impersonate-user') this.user ??= value;
    else if (lowerName === 'impersonate-uid') this.uid ??= value;
    else if (lowerName === 'impersonate-group') {
      this.groupsSpecified = true;
      this.groups.push(value);
    } else if (lowerName.startsWith(EXTRA_PREFIX)) {
      this.extraSpecified = true;
      (this.extra[extraKey(lowerName)] ??= []).push(value);
    }
  }

  request(): ImpersonationRequest | 'malformed' | undefined {
    if (!this.user) return this.uid || this.groupsSpecified || this.extraSpecified ? 'malformed' : undefined;
    return { name: this.user, uid: this.uid ?? '', groups: this.groups, extra: this.extra, groupsSpecified: this.groupsSpecified };
  }
}

export function bearerToken(rawHeaders: readonly string[]): string | undefined {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.length === 13 && rawHeaders[i]!.toLowerCase() === 'authorization') {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(rawHeaders[i + 1]!);
      return match?.[1];
    }
  }
  return undefined;
}

/**
 * Headers that make the destination act as `user` (set on the request, so upgrades carry them too).
 * A service account holding exactly the groups every service account gets is sent by name alone: the
 * destination completes the same groups, and 1.36's constrained `serviceaccount` mode, the only way the
 * aggregator may act as one there (docs/adr/0022), accepts nothing but the name, so the source's uid and
 * pod-binding extras are not carried. Anyone else is sent whole (the constrained `user-info` mode).
 */
export function impersonationHeaders(user: UserInfo): string[] {
  if (isPlainServiceAccount(user)) return ['Impersonate-User', user.username];
  const out = ['Impersonate-User', user.username];
  if (user.uid) out.push('Impersonate-Uid', user.uid);
  for (const group of user.groups) out.push('Impersonate-Group', group);
  for (const [key, values] of Object.entries(user.extra)) for (const value of values) out.push(`Impersonate-Extra-${encodeURIComponent(key)}`, value);
  return out;
}

/** A service account's token identity: its name and the three groups kube-apiserver gives every one. */
function isPlainServiceAccount(user: UserInfo): boolean {
  const sa = serviceAccountOf(user.username);
  if (!sa) return false;
  const implied = new Set(['system:serviceaccounts', `system:serviceaccounts:${sa.namespace}`, 'system:authenticated']);
  return user.groups.length === implied.size && new Set(user.groups).size === implied.size && user.groups.every((g) => implied.has(g));
}
