/**
 * kube-apiserver's impersonation decision, replayed check for check (k8s.io/apiserver v0.36
 * pkg/endpoints/filters/impersonation): the same authorization attributes in the same order, the same
 * identity completed, the same 403 message. `legacy` is the filter every release before 1.36 runs
 * (and 1.36 with the ConstrainedImpersonation gate off); `constrained` is 1.36's, which tries the
 * associated-node, arbitrary-node, serviceaccount and user-info modes (each `impersonate-on:<mode>:<verb>`
 * on the request itself, then `impersonate:<mode>` on what is impersonated) before the legacy checks.
 * Pure: the authorizer (a SubjectAccessReview on the source) is passed in.
 */
import type { RequestInfo } from '../../lib/routing/types.js';
import type { UserInfo, WantedUser } from './identity.js';
import { isSubdomain, serviceAccountOf } from './user-names.js';

export type ImpersonationFlavour = 'legacy' | 'constrained';

/** authorizer.Attributes, as much as a SubjectAccessReview carries. */
export interface AuthzAttributes {
  user: UserInfo;
  verb: string;
  resourceRequest: boolean;
  namespace: string;
  group: string;
  version: string;
  resource: string;
  subresource: string;
  name: string;
  path: string;
  fieldSelector?: string;
  labelSelector?: string;
}

export interface AuthzDecision {
  allowed: boolean;
  reason: string;
  evaluationError?: string;
}

export type Authorize = (attributes: AuthzAttributes) => Promise<AuthzDecision>;

/** A Forbidden Status exactly as responsewriters.ForbiddenStatusError builds it. */
export interface ForbiddenStatus {
  message: string;
  details: { group: string; kind: string; name: string };
}

export type ImpersonationOutcome = { ok: true; user: UserInfo } | { ok: false; forbidden: ForbiddenStatus };

class Forbidden extends Error {
  constructor(readonly status: ForbiddenStatus) {
    super(status.message);
  }
}

const AUTHENTICATION_GROUP = 'authentication.k8s.io';
const ANONYMOUS = 'system:anonymous';
const ALL_AUTHENTICATED = 'system:authenticated';
const ALL_UNAUTHENTICATED = 'system:unauthenticated';
const NODES_GROUP = 'system:nodes';
const MASTERS_GROUP = 'system:masters';
const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';
/** Constrained modes try one wildcard check before this many checks in a loop. */
const MANY_CHECKS = 4;

const HTTP_PATH = /^[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/;

function nodeOf(username: string): string | undefined {
  const prefix = 'system:node:';
  if (!username.startsWith(prefix)) return undefined;
  const name = username.slice(prefix.length);
  return isSubdomain(name) ? name : undefined;
}

/** Go's %q for the strings these messages quote. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + '"';
}

const sanitize = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** responsewriters.forbiddenMessage. */
function forbiddenMessage(a: AuthzAttributes): string {
  const who = goQuote(a.user.username);
  if (!a.resourceRequest) return `User ${who} cannot ${a.verb} path ${goQuote(a.path)}`;
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const where = a.namespace ? `in the namespace ${goQuote(a.namespace)}` : 'at the cluster scope';
  return `User ${who} cannot ${a.verb} resource ${goQuote(resource)} in API group ${goQuote(a.group)} ${where}`;
}

/** responsewriters.ForbiddenStatusError and apierrors.NewForbidden. */
export function forbiddenStatus(a: AuthzAttributes, reason: string): ForbiddenStatus {
  const msg = sanitize(forbiddenMessage(a));
  const err = reason ? `${msg}: ${reason}` : msg;
  const qualified = a.group ? `${a.resource}.${a.group}` : a.resource;
  let message: string;
  if (!a.group && !a.resource) message = `forbidden: ${err}`;
  else if (!a.name) message = `${qualified} is forbidden: ${err}`;
  else message = `${qualified} ${goQuote(a.name)} is forbidden: ${err}`;
  return { message, details: { group: a.group, kind: a.resource, name: a.name } };
}

/** checkAuthorization: allowed, or the Forbidden error worded from the attributes checked. */
async function check(authorize: Authorize, a: AuthzAttributes): Promise<void> {
  const decision = await authorize(a);
  if (decision.allowed) return;
  const err = decision.evaluationError;
  const msg = err && decision.reason ? `${err}: ${decision.reason}` : err ? err : decision.reason;
  throw new Forbidden(forbiddenStatus(a, msg));
}

function attributes(requestor: UserInfo, group: string, verb: string, resource: string, name: string): AuthzAttributes {
  return { user: requestor, verb, resourceRequest: true, namespace: '', group, version: 'v1', resource, subresource: '', name, path: '' };
}

/** The request's own attributes (the constrained modes authorize `impersonate-on:<mode>:<verb>` on them). */
export function requestAttributes(requestor: UserInfo, info: RequestInfo, selectors: { fieldSelector?: string; labelSelector?: string }): AuthzAttributes {
  return {
    user: requestor,
    verb: info.verb,
    resourceRequest: info.isResourceRequest,
    namespace: info.namespace,
    group: info.apiGroup,
    version: info.apiVersion,
    resource: info.resource,
    subresource: info.subresource,
    name: info.name,
    path: info.path,
    ...selectors,
  };
}

const onlyUsername = (w: WantedUser) => !w.uid && w.groups.length === 0 && Object.keys(w.extra).length === 0;

/** The impersonated identity's groups completed as both filters complete them. */
function completedGroups(name: string, groups: string[]): string[] {
  const out = [...groups];
  if (name === ANONYMOUS) {
    if (!out.includes(ALL_UNAUTHENTICATED)) out.push(ALL_UNAUTHENTICATED);
  } else if (!out.includes(ALL_UNAUTHENTICATED) && !out.includes(ALL_AUTHENTICATED)) out.push(ALL_AUTHENTICATED);
  return out;
}

/** WithImpersonation (every release before 1.36): user, each group, each extra, then the uid. */
async function legacyFilter(authorize: Authorize, requestor: UserInfo, wanted: WantedUser): Promise<UserInfo> {
  let groups: string[] = [];
  const sa = serviceAccountOf(wanted.name);
  if (sa) {
    await check(authorize, { ...attributes(requestor, '', 'impersonate', 'serviceaccounts', sa.name), version: '', namespace: sa.namespace });
    if (!wanted.groupsSpecified) groups = [`system:serviceaccounts`, `system:serviceaccounts:${sa.namespace}`];
  } else await check(authorize, { ...attributes(requestor, '', 'impersonate', 'users', wanted.name), version: '' });
  for (const group of wanted.groups) {
    await check(authorize, { ...attributes(requestor, '', 'impersonate', 'groups', group), version: '' });
    groups.push(group);
  }
  for (const [key, values] of Object.entries(wanted.extra))
    for (const value of values)
      await check(authorize, { ...attributes(requestor, AUTHENTICATION_GROUP, 'impersonate', 'userextras', value), subresource: key });
  if (wanted.uid) await check(authorize, attributes(requestor, AUTHENTICATION_GROUP, 'impersonate', 'uids', wanted.uid));
  return { username: wanted.name, uid: wanted.uid || undefined, groups: completedGroups(wanted.name, groups), extra: wanted.extra };
}

/** validateExtra of the constrained modes. */
function extraProblem(extra: Record<string, string[]>): string | undefined {
  for (const [key, values] of Object.entries(extra)) {
    if (!key) return 'impersonating the empty string key in extra is not allowed';
    const [host, path] = [key.slice(0, Math.max(0, key.indexOf('/'))), key.slice(key.indexOf('/') + 1)];
    if (key.indexOf('/') <= 0 || !path)
      return `impersonating an invalid key in extra is not allowed: extra.key: Invalid value: ${goQuote(key)}: must be a domain-prefixed path (such as "acme.io/foo")`;
    if (!isSubdomain(host) || !HTTP_PATH.test(path)) return `impersonating an invalid key in extra is not allowed: extra.key: Invalid value: ${goQuote(key)}`;
    if (key !== key.toLowerCase()) return `impersonating a non-lowercase key in extra is not allowed: ${goQuote(key)}`;
    if (values.length === 0) return 'impersonating empty values in extra is not allowed';
    if (values.includes('')) return 'impersonating the empty string value in extra is not allowed';
  }
  return undefined;
}

type ModeName = 'associated-node' | 'arbitrary-node' | 'serviceaccount' | 'user-info' | 'legacy';
const MODES: readonly ModeName[] = ['associated-node', 'arbitrary-node', 'serviceaccount', 'user-info', 'legacy'];

/**
 * associated-node checks see only the requestor's extra keys (its node name would defeat the cache
 * the API server keys by them) and, for the username check, every node ("*").
 */
function associatedNodeRequestor(requestor: UserInfo): UserInfo {
  return { ...requestor, extra: { 'authentication.kubernetes.io/associated-node-keys': Object.keys(requestor.extra).sort() } };
}

/** impersonationModeState.check: username, uid, groups, extra under `verb`, then the identity completed. */
async function modeChecks(authorize: Authorize, requestor: UserInfo, wanted: WantedUser, mode: ModeName): Promise<UserInfo> {
  const constrained = mode !== 'legacy';
  const verb = constrained ? `impersonate:${mode}` : 'impersonate';
  const nameGroup = constrained ? AUTHENTICATION_GROUP : '';
  let groups = [...wanted.groups];
  const user = attributes(requestor, nameGroup, verb, 'users', wanted.name);
  const node = constrained ? nodeOf(wanted.name) : undefined;
  if (node !== undefined) {
    Object.assign(user, { resource: 'nodes', name: mode === 'associated-node' ? '*' : node });
    if (wanted.groups.length)
      throw new Forbidden(forbiddenStatus(user, `when impersonating a node, cannot impersonate groups ${goStringSlice(wanted.groups)}`));
    groups = [NODES_GROUP];
  }
  const sa = serviceAccountOf(wanted.name);
  if (sa) {
    Object.assign(user, { resource: 'serviceaccounts', namespace: sa.namespace, name: sa.name });
    if (constrained && wanted.groups.length)
      throw new Forbidden(forbiddenStatus(user, `when impersonating a service account, cannot impersonate groups ${goStringSlice(wanted.groups)}`));
    if (!wanted.groups.length) groups = ['system:serviceaccounts', `system:serviceaccounts:${sa.namespace}`];
  }
  await check(authorize, user);
  if (wanted.uid) await check(authorize, attributes(requestor, AUTHENTICATION_GROUP, verb, 'uids', wanted.uid));
  await groupChecks(authorize, requestor, wanted.groups, constrained, attributes(requestor, nameGroup, verb, 'groups', ''));
  await extraChecks(authorize, wanted.extra, constrained, attributes(requestor, AUTHENTICATION_GROUP, verb, 'userextras', ''));
  return { username: wanted.name, uid: wanted.uid || undefined, groups: completedGroups(wanted.name, groups), extra: wanted.extra };
}

/** Go's %q of a []string: ["a" "b"]. */
function goStringSlice(values: string[]): string {
  return `[${values.map(goQuote).join(' ')}]`;
}

async function groupChecks(authorize: Authorize, requestor: UserInfo, groups: string[], constrained: boolean, base: AuthzAttributes): Promise<void> {
  if (!groups.length) return;
  if (constrained) {
    if (groups.includes('')) throw new Forbidden(forbiddenStatus(base, 'impersonating the empty string group is not allowed'));
    if (groups.includes(MASTERS_GROUP))
      throw new Forbidden(forbiddenStatus({ ...base, name: MASTERS_GROUP }, 'impersonating the system:masters group is not allowed'));
    if (groups.length >= MANY_CHECKS && (await authorize({ ...base, name: '*' })).allowed) return;
  }
  for (const group of groups) await check(authorize, { ...base, name: group });
}

async function extraChecks(authorize: Authorize, extra: Record<string, string[]>, constrained: boolean, base: AuthzAttributes): Promise<void> {
  const entries = Object.entries(extra);
  if (!entries.length) return;
  if (constrained) {
    const problem = extraProblem(extra);
    if (problem) throw new Forbidden(forbiddenStatus(base, problem));
    const count = entries.reduce((n, [, values]) => n + values.length, 0);
    if ((entries.length >= MANY_CHECKS || count >= MANY_CHECKS) && (await authorize({ ...base, subresource: '*', name: '*' })).allowed) return;
  }
  for (const [key, values] of entries) for (const value of values) await check(authorize, { ...base, subresource: key, name: value });
}

/** Whether a constrained mode applies at all (its filter): undefined when it does not. */
function modeApplies(mode: ModeName, wanted: WantedUser, requestor: UserInfo): boolean {
  const node = nodeOf(wanted.name);
  switch (mode) {
    case 'associated-node': {
      const values = requestor.extra[NODE_NAME_EXTRA] ?? [];
      return onlyUsername(wanted) && node !== undefined && serviceAccountOf(requestor.username) !== undefined && values.length === 1 && values[0] === node;
    }
    case 'arbitrary-node':
      return onlyUsername(wanted) && node !== undefined;
    case 'serviceaccount':
      return onlyUsername(wanted) && serviceAccountOf(wanted.name) !== undefined;
    case 'user-info':
      return node === undefined && serviceAccountOf(wanted.name) === undefined;
    case 'legacy':
      return true;
  }
}

/** One mode: undefined when its filter does not match, else the identity or a Forbidden. */
async function tryMode(authorize: Authorize, mode: ModeName, wanted: WantedUser, request: AuthzAttributes): Promise<UserInfo | undefined> {
  if (!modeApplies(mode, wanted, request.user)) return undefined;
  if (mode === 'legacy') return modeChecks(authorize, request.user, wanted, mode);
  const requestor = mode === 'associated-node' ? associatedNodeRequestor(request.user) : request.user;
  await check(authorize, { ...request, user: requestor, verb: `impersonate-on:${mode}:${request.verb}` });
  return modeChecks(authorize, requestor, wanted, mode);
}

/**
 * The decision of one kube-apiserver. It remembers, per requestor, the mode that last succeeded and
 * tries it first (as impersonationModesTracker does), which only changes which denial is reported.
 */
export class ImpersonationDecider {
  private readonly lastMode = new Map<string, number>();

  constructor(
    private readonly authorize: Authorize,
    private readonly maxRequestors = 10_000,
  ) {}

  async decide(flavour: ImpersonationFlavour, wanted: WantedUser, request: AuthzAttributes): Promise<ImpersonationOutcome> {
    try {
      if (flavour === 'legacy') return { ok: true, user: await legacyFilter(this.authorize, request.user, wanted) };
      return { ok: true, user: await this.constrained(wanted, request) };
    } catch (err) {
      if (err instanceof Forbidden) return { ok: false, forbidden: err.status };
      throw err;
    }
  }

  private async constrained(wanted: WantedUser, request: AuthzAttributes): Promise<UserInfo> {
    const remembered = this.lastMode.get(request.user.username);
    const order = remembered === undefined ? MODES.map((_, i) => i) : [remembered, ...MODES.map((_, i) => i).filter((i) => i !== remembered)];
    let first: unknown;
    for (const index of order) {
      try {
        const user = await tryMode(this.authorize, MODES[index]!, wanted, request);
        if (!user) continue;
        this.remember(request.user.username, index);
        return user;
      } catch (err) {
        if (!(err instanceof Forbidden)) throw err;
        first ??= err;
      }
    }
    throw first ?? new Error('all impersonation modes failed');
  }

  private remember(username: string, index: number): void {
    this.lastMode.delete(username);
    if (this.lastMode.size >= this.maxRequestors) this.lastMode.delete(this.lastMode.keys().next().value!);
    this.lastMode.set(username, index);
  }
}
