/**
 * Who is calling (DESIGN.md section 4). To the source the workload's bearer token passes unchanged;
 * to the destination the aggregator authenticates the token with a TokenReview against the source
 * (cached briefly by the token's hash, never the token) and impersonates the user. Client
 * `Impersonate-*` headers are honoured after a SubjectAccessReview on the source. Identity headers
 * from a sidecar are trusted only with a sidecar client certificate, and its namespace comes from the
 * certificate.
 */
import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { SIDECAR_CLIENT_ORGANIZATION, SIDECAR_NAMESPACE_ORGANIZATION_PREFIX } from '../certs/bridge-certs.js';
import { BridgeError } from '../lib/errors.js';
import type { KubeRestClient } from '../lib/kube-rest-client.js';

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
}

export interface PeerIdentity {
  /** The connection presented a valid sidecar client certificate. */
  sidecar: boolean;
  /** The namespace the certificate was issued for, when it names one. */
  namespace?: string;
}

function organizations(subject: Record<string, string | string[]> | undefined): string[] {
  const o = subject?.O;
  return o === undefined ? [] : Array.isArray(o) ? o : [o];
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

function certificateIdentity(socket: TLSSocket): PeerIdentity {
  if (!socket.authorized) return { sidecar: false };
  const orgs = organizations(socket.getPeerCertificate().subject as Record<string, string | string[]> | undefined);
  if (!orgs.includes(SIDECAR_CLIENT_ORGANIZATION)) return { sidecar: false };
  const ns = orgs.find((o) => o.startsWith(SIDECAR_NAMESPACE_ORGANIZATION_PREFIX))?.slice(SIDECAR_NAMESPACE_ORGANIZATION_PREFIX.length);
  return ns ? { sidecar: true, namespace: ns } : { sidecar: true };
}

export type HeaderVerdict = { ok: true; impersonation: ImpersonationRequest | undefined } | { ok: false; message: string };

export interface ImpersonationRequest {
  user?: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
}

/**
 * Checks the identity headers of one request against its peer, in one pass: client X-Remote-* is
 * always refused (front-proxy headers only the API server's own proxy may set), X-Bridge-* only from
 * a sidecar, and a sidecar's X-Bridge-Namespace must match its certificate.
 */
export function checkIdentityHeaders(rawHeaders: readonly string[], peer: PeerIdentity): HeaderVerdict {
  let impersonation: ImpersonationRequest | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    if (name.startsWith('x-remote-')) return { ok: false, message: `the ${rawHeaders[i]} header is not accepted from clients` };
    if (name.startsWith('x-bridge-')) {
      if (!peer.sidecar)
        return { ok: false, message: `the ${rawHeaders[i]} header is accepted only from a cluster-bridge sidecar with its client certificate` };
      if (name === 'x-bridge-namespace' && peer.namespace !== undefined && value !== peer.namespace) {
        return { ok: false, message: `a sidecar certificate of namespace "${peer.namespace}" cannot claim namespace "${value}"` };
      }
      continue;
    }
    if (!name.startsWith('impersonate-')) continue;
    impersonation ??= { groups: [], extra: {} };
    if (name === 'impersonate-user') impersonation.user = value;
    else if (name === 'impersonate-uid') impersonation.uid = value;
    else if (name === 'impersonate-group') impersonation.groups.push(value);
    else if (name.startsWith('impersonate-extra-')) {
      const key = decodeURIComponent(name.slice('impersonate-extra-'.length));
      (impersonation.extra[key] ??= []).push(value);
    }
  }
  if (impersonation && impersonation.user === undefined) {
    return { ok: false, message: 'requested impersonation of groups, uid or extra without a user (Impersonate-User)' };
  }
  return { ok: true, impersonation };
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

/** Headers that make the destination act as `user` (set on the request, so upgrades carry them too). */
export function impersonationHeaders(user: UserInfo): string[] {
  const out = ['Impersonate-User', user.username];
  if (user.uid) out.push('Impersonate-Uid', user.uid);
  for (const group of user.groups) out.push('Impersonate-Group', group);
  for (const [key, values] of Object.entries(user.extra)) for (const value of values) out.push(`Impersonate-Extra-${encodeURIComponent(key)}`, value);
  return out;
}

const ANONYMOUS: UserInfo = { username: 'system:anonymous', groups: ['system:unauthenticated'], extra: {} };
const REVIEW_TTL_MS = 10_000;
const MAX_CACHED_REVIEWS = 10_000;

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  error?: string;
}

/** Authenticates tokens against the source, caching successes for a few seconds by the token's hash. */
export class SourceAuthenticator {
  private readonly cache = new Map<string, { user: UserInfo; until: number }>();

  constructor(private readonly source: KubeRestClient) {}

  /** undefined: the source rejects the token (the caller answers 401, as the API server would). */
  async authenticate(token: string | undefined): Promise<UserInfo | undefined> {
    if (token === undefined) return ANONYMOUS;
    const key = createHash('sha256').update(token).digest('base64');
    const hit = this.cache.get(key);
    if (hit && hit.until > Date.now()) return hit.user;
    const review = await this.source.expect<{ status?: TokenReviewStatus }>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', [201, 200], {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token },
    });
    const status = review.body.status;
    if (!status?.authenticated || !status.user?.username) return undefined;
    const user: UserInfo = { username: status.user.username, uid: status.user.uid, groups: status.user.groups ?? [], extra: status.user.extra ?? {} };
    if (this.cache.size >= MAX_CACHED_REVIEWS) this.cache.clear();
    this.cache.set(key, { user, until: Date.now() + REVIEW_TTL_MS });
    return user;
  }

  /**
   * The identity to act as when the caller asked to impersonate: each requested attribute is checked
   * with a SubjectAccessReview (verb impersonate) on the source, as kube-apiserver's impersonation
   * filter checks it. Throws BRIDGE_ERR_IDENTITY with kube-apiserver's 403 message when one is denied.
   */
  async authorizeImpersonation(caller: UserInfo, wanted: ImpersonationRequest): Promise<UserInfo> {
    const checks: { resource: string; name: string; subresource?: string }[] = [{ resource: 'users', name: wanted.user! }];
    for (const group of wanted.groups) checks.push({ resource: 'groups', name: group });
    if (wanted.uid) checks.push({ resource: 'uids', name: wanted.uid });
    for (const [key, values] of Object.entries(wanted.extra))
      for (const value of values) checks.push({ resource: 'userextras', subresource: key, name: value });
    for (const check of checks) {
      const review = await this.source.expect<{ status?: { allowed?: boolean } }>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', [201, 200], {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: caller.username,
          uid: caller.uid,
          groups: caller.groups,
          extra: caller.extra,
          resourceAttributes: {
            verb: 'impersonate',
            group: check.resource === 'uids' || check.resource === 'userextras' ? 'authentication.k8s.io' : '',
            resource: check.resource,
            subresource: check.subresource,
            name: check.name,
          },
        },
      });
      if (!review.body.status?.allowed) {
        const group = check.resource === 'uids' || check.resource === 'userextras' ? 'authentication.k8s.io' : '';
        const resource = check.subresource ? `${check.resource}/${check.subresource}` : check.resource;
        throw new BridgeError(
          'BRIDGE_ERR_IDENTITY',
          `${check.resource} "${check.name}" is forbidden: User "${caller.username}" cannot impersonate resource "${resource}" in API group "${group}" at the cluster scope`,
        );
      }
    }
    // As kube-apiserver completes an impersonated identity: a service account's groups when none were
    // asked for, and system:authenticated for everyone but anonymous.
    const groups = [...wanted.groups];
    const serviceAccount = /^system:serviceaccount:([^:]+):[^:]+$/.exec(wanted.user!);
    if (serviceAccount && groups.length === 0) groups.push('system:serviceaccounts', `system:serviceaccounts:${serviceAccount[1]}`);
    if (wanted.user !== 'system:anonymous' && !groups.includes('system:authenticated')) groups.push('system:authenticated');
    return { username: wanted.user!, uid: wanted.uid, groups, extra: wanted.extra };
  }
}
