/**
 * The source's word on who a caller is and what it may impersonate, for requests the destination
 * serves (DESIGN.md section 4): TokenReviews, SubjectAccessReviews and how the source treats a request
 * without credentials, each cached both ways (accepted and refused) for a few seconds in bounded
 * caches keyed by hashes (never a token). Tokens the cache does not know spend a review budget
 * (review-budget.ts) first. Impersonation is decided as the source's own filter decides it
 * (impersonation.ts), in the flavour the source runs, which it is asked for.
 */
import { createHash } from 'node:crypto';
import { BridgeError } from '../../lib/errors.js';
import type { ClusterConnection } from '../../lib/kube/cluster-connection.js';
import type { KubeRestClient } from '../../lib/kube/rest-client.js';
import { TtlCache } from '../../lib/ttl-cache.js';
import type { RequestInfo } from '../../lib/routing/types.js';
import type { UserInfo, WantedUser } from './identity.js';
import {
  ImpersonationDecider,
  requestAttributes,
  type AuthzAttributes,
  type AuthzDecision,
  type ImpersonationFlavour,
  type ImpersonationOutcome,
} from './impersonation.js';
import { ReviewBudget } from './review-budget.js';

/** kube-apiserver caches TokenReview webhooks 10 s (TokenSuccessCacheTTL) and impersonation 10 s: no longer here. */
const ACCEPTED_TTL_MS = 10_000;
const REFUSED_TTL_MS = 5_000;
const MAX_CACHED = 10_000;
/** How often the source is asked again whether it runs constrained impersonation (it may be upgraded mid-migration). */
const FLAVOUR_TTL_MS = 5 * 60_000;
const PROBE_TIMEOUT_MS = 5_000;

const ANONYMOUS: UserInfo = { username: 'system:anonymous', groups: ['system:unauthenticated'], extra: {} };

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
}

export type Authentication = { ok: true; user: UserInfo } | { ok: false; why: 'unauthenticated' | 'throttled' };

const hash = (s: string) => createHash('sha256').update(s).digest('base64');

/** The answer the source gives a request to `path` without credentials: 401 when it does not authenticate it as anonymous. */
export function anonymousProbe(source: ClusterConnection): (path: string) => Promise<number> {
  return async (path) => {
    // OPTIONS: no API handler executes it, and anonymous conditions match on the path alone.
    const answer = await source.rest.raw({ method: 'OPTIONS', path, agent: source.asCaller, timeoutMs: PROBE_TIMEOUT_MS });
    answer.body.resume();
    return answer.status;
  };
}

/** Which impersonation filter the source runs: the 400 for a group without a user is worded differently by each. */
export async function probeFlavour(source: KubeRestClient): Promise<ImpersonationFlavour> {
  const answer = await source.request<{ message?: string }>('GET', '/api', undefined, { headers: { 'Impersonate-Group': 'cluster-bridge-probe' } });
  const message = typeof answer.body === 'object' ? (answer.body?.message ?? '') : String(answer.body);
  if (answer.status === 400 && message.includes('without impersonating a user name')) return 'constrained';
  if (answer.status === 400 && message.includes('without impersonating a user')) return 'legacy';
  throw new BridgeError('BRIDGE_ERR_IDENTITY', `cannot tell how the source authorizes impersonation: GET /api answered ${answer.status} ${message}`);
}

function subjectAccessReview(a: AuthzAttributes) {
  const selectors = {
    ...(a.fieldSelector !== undefined ? { fieldSelector: { rawSelector: a.fieldSelector } } : {}),
    ...(a.labelSelector !== undefined ? { labelSelector: { rawSelector: a.labelSelector } } : {}),
  };
  return {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: {
      user: a.user.username,
      uid: a.user.uid,
      groups: a.user.groups,
      extra: a.user.extra,
      ...(a.resourceRequest
        ? {
            resourceAttributes: {
              namespace: a.namespace,
              verb: a.verb,
              group: a.group,
              version: a.version,
              resource: a.resource,
              subresource: a.subresource,
              name: a.name,
              ...selectors,
            },
          }
        : { nonResourceAttributes: { path: a.path, verb: a.verb } }),
    },
  };
}

export interface SourceAuthenticatorOptions {
  rest: KubeRestClient;
  /** anonymousProbe(source) in production. */
  anonymous: (path: string) => Promise<number>;
  budget?: ReviewBudget;
}

export class SourceAuthenticator {
  private readonly tokens = new TtlCache<UserInfo | null>(MAX_CACHED, (user) => (user ? ACCEPTED_TTL_MS : REFUSED_TTL_MS));
  private readonly reviews = new TtlCache<AuthzDecision>(MAX_CACHED, (d) => (d.allowed ? ACCEPTED_TTL_MS : REFUSED_TTL_MS));
  private readonly anonymousPaths = new TtlCache<boolean>(MAX_CACHED, () => ACCEPTED_TTL_MS);
  private readonly flavour = new TtlCache<ImpersonationFlavour>(1, () => FLAVOUR_TTL_MS);
  private readonly decider: ImpersonationDecider;
  private readonly budget: ReviewBudget;

  constructor(private readonly options: SourceAuthenticatorOptions) {
    this.budget = options.budget ?? new ReviewBudget();
    this.decider = new ImpersonationDecider((a) => this.authorize(a));
  }

  /**
   * The caller of a request for the destination. No token: anonymous only where the source would
   * authenticate the same path as anonymous. A token: the source's TokenReview. `peer` is charged
   * for a review the cache cannot answer.
   */
  async authenticate(token: string | undefined, peer: string, path: string): Promise<Authentication> {
    if (token === undefined) {
      const key = hash(path);
      const known = this.anonymousPaths.get(key);
      if (known === undefined && !this.budget.spend(peer)) return { ok: false, why: 'throttled' };
      const allowed = await this.anonymousPaths.getOrCompute(key, async () => {
        return (await this.options.anonymous(path)) !== 401;
      });
      return allowed ? { ok: true, user: ANONYMOUS } : { ok: false, why: 'unauthenticated' };
    }
    const key = hash(token);
    const known = this.tokens.get(key);
    if (known === undefined && !this.budget.spend(peer)) return { ok: false, why: 'throttled' };
    const user = known !== undefined ? known : await this.tokens.getOrCompute(key, () => this.review(token));
    return user ? { ok: true, user } : { ok: false, why: 'unauthenticated' };
  }

  private async review(token: string): Promise<UserInfo | null> {
    const review = await this.options.rest.expect<{ status?: TokenReviewStatus }>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', [201, 200], {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token },
    });
    const status = review.body.status;
    if (!status?.authenticated || !status.user?.username) return null;
    return { username: status.user.username, uid: status.user.uid, groups: status.user.groups ?? [], extra: status.user.extra ?? {} };
  }

  /** One SubjectAccessReview on the source, cached by its attributes. */
  async authorize(a: AuthzAttributes): Promise<AuthzDecision> {
    const body = subjectAccessReview(a);
    return this.reviews.getOrCompute(hash(JSON.stringify(body.spec)), async () => {
      const review = await this.options.rest.expect<{ status?: { allowed?: boolean; reason?: string; evaluationError?: string } }>(
        'POST',
        '/apis/authorization.k8s.io/v1/subjectaccessreviews',
        [201, 200],
        body,
      );
      const status = review.body.status ?? {};
      return { allowed: status.allowed === true, reason: status.reason ?? '', evaluationError: status.evaluationError || undefined };
    });
  }

  /** The identity `requestor` becomes by impersonating `wanted` for this request, or the source's 403. */
  async impersonate(requestor: UserInfo, wanted: WantedUser, info: RequestInfo): Promise<ImpersonationOutcome> {
    const flavour = await this.flavour.getOrCompute('flavour', () => {
      return probeFlavour(this.options.rest);
    });
    return this.decider.decide(flavour, wanted, requestAttributes(requestor, info, { fieldSelector: info.fieldSelector, labelSelector: info.labelSelector }));
  }
}
