/**
 * What a Kubernetes API request is about, decided from its method and URL alone, exactly as
 * kube-apiserver's RequestInfoFactory decides it (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go),
 * so the bridge routes and authorizes by the same facts the API server will audit. Pure; no Node APIs.
 */
import { goParseQuery, goSplitPath, parseGoRequestTarget } from './go-url.js';
import type { RequestInfo } from './types.js';

/** `/api/...` and `/apis/...`; only `api` has no group segment. */
const API_PREFIXES = new Set(['api', 'apis']);
const GROUPLESS_PREFIX = 'api';
/** Legacy verbs in the path: `/api/v1/watch/...` and `/api/v1/proxy/...`. */
const SPECIAL_VERBS = new Set(['proxy', 'watch']);
/** After `proxy` every segment belongs to the proxied path, so none is a subresource. */
const SPECIAL_VERBS_WITHOUT_SUBRESOURCES = new Set(['proxy']);
/** `/api/v1/namespaces/x/status` is the namespace's own subresource, not a resource called `status`. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
/** Verbs whose selectors kube-apiserver hands the authorizer (AuthorizeWithSelectors). */
const SELECTOR_VERBS = new Set(['list', 'watch', 'deletecollection']);

const METHOD_VERBS: Record<string, string> = {
  POST: 'create',
  GET: 'get',
  HEAD: 'get',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};

/** Write verbs: the ones a shard hand-off holds and fencing refuses. */
export const WRITE_VERBS: ReadonlySet<string> = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

/** Like Go's runtime.Convert_Slice_string_To_bool: anything but `false` and `0` (even empty) is true. */
function queryFlag(query: Map<string, string[]>, name: string): boolean {
  const value = query.get(name)?.[0];
  if (value === undefined) return false;
  const lower = value.toLowerCase();
  return lower !== 'false' && lower !== '0';
}

/** Go's strconv.ParseInt(s, 10, 64) succeeds. */
function isInt64(s: string): boolean {
  if (!/^[+-]?\d+$/.test(s)) return false;
  const n = BigInt(s);
  return n >= -(2n ** 63n) && n < 2n ** 63n;
}

/** A name usable as one path segment (apimachinery's content.IsPathSegmentName). */
function isValidPathSegmentName(name: string): boolean {
  return name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%');
}

/** fields.splitTerms: on commas not escaped with a backslash. */
function selectorTerms(selector: string): string[] {
  if (!selector) return [];
  const terms: string[] = [];
  let start = 0;
  let inSlash = false;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i]!;
    if (inSlash) inSlash = false;
    else if (c === '\\') inSlash = true;
    else if (c === ',') {
      terms.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(selector.slice(start));
  return terms;
}

/** fields.UnescapeValue; undefined for what it refuses. */
function unescapeSelectorValue(s: string): string | undefined {
  let out = '';
  let inSlash = false;
  for (const c of s) {
    if (inSlash) {
      if (c !== '\\' && c !== ',' && c !== '=') return undefined;
      out += c;
      inSlash = false;
    } else if (c === '\\') inSlash = true;
    else if (c === ',' || c === '=') return undefined;
    else out += c;
  }
  return inSlash ? undefined : out;
}

/** fields.ParseSelector: the terms (sorted, as it sorts them), or undefined when it fails. */
function parseFieldSelector(selector: string): { field: string; op: string; value: string }[] | undefined {
  const terms: { field: string; op: string; value: string }[] = [];
  for (const part of selectorTerms(selector).sort()) {
    if (!part) continue;
    const match = /^(.*?)(!=|==|=)(.*)$/s.exec(part);
    if (!match) return undefined;
    const value = unescapeSelectorValue(match[3]!);
    if (value === undefined) return undefined;
    terms.push({ field: match[1]!, op: match[2]!, value });
  }
  return terms;
}

/** The name a field selector pins `metadata.name` to, as Selector.RequiresExactMatch finds it. */
export function exactNameFromFieldSelector(selector: string | null): string | undefined {
  if (selector === null) return undefined;
  const term = parseFieldSelector(selector)?.find((t) => t.field === 'metadata.name' && t.op !== '!=');
  return term?.value;
}

/**
 * Whether metav1 ListOptions decode from this query (DecodeParameters): the integers and the field
 * selector are checked; label selector syntax is left to the API server (a known gap: an invalid
 * label selector there also drops a field selector's name).
 */
function listOptionsDecode(query: Map<string, string[]>): boolean {
  for (const name of ['limit', 'timeoutSeconds']) {
    const value = query.get(name)?.[0];
    if (value !== undefined && !isInt64(value)) return false;
  }
  const selector = query.get('fieldSelector')?.[0];
  return selector === undefined || parseFieldSelector(selector) !== undefined;
}

function nonResource(path: string, method: string): RequestInfo {
  return {
    isResourceRequest: false,
    path,
    verb: method.toLowerCase(),
    apiPrefix: '',
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
  };
}

/**
 * Parses one request. Never throws: a URL kube-apiserver would reject (`/api/v1/watch` with nothing
 * after it) comes back as a resource request with an empty resource, which routes to the source,
 * whose answer the client then gets.
 */
export function parseRequestInfo(method: string, url: string): RequestInfo {
  const target = parseGoRequestTarget(url);
  // Go's server answers 400 to these before any handler; the source gives the client that answer.
  if (!target) return { ...nonResource(url, method), malformed: true };
  const { path } = target;
  let parts = goSplitPath(path);
  if (parts.length < 3 || !API_PREFIXES.has(parts[0]!)) return nonResource(path, method);

  const info = nonResource(path, method);
  info.apiPrefix = parts[0]!;
  parts = parts.slice(1);
  if (info.apiPrefix !== GROUPLESS_PREFIX) {
    if (parts.length < 3) return nonResource(path, method);
    info.apiGroup = parts[0]!;
    parts = parts.slice(1);
  }
  info.isResourceRequest = true;
  info.apiVersion = parts[0]!;
  parts = parts.slice(1);

  let verbViaPath = false;
  if (SPECIAL_VERBS.has(parts[0]!)) {
    info.verb = parts[0]!;
    parts = parts.slice(1);
    if (parts.length === 0) return info;
    verbViaPath = true;
  } else {
    info.verb = METHOD_VERBS[method] ?? '';
  }

  readResourcePath(info, parts);
  const query = goParseQuery(target.rawQuery);
  if (info.name === '') readCollectionVerb(info, query);
  if (!verbViaPath && SELECTOR_VERBS.has(info.verb)) {
    const fieldSelector = query.get('fieldSelector')?.[0];
    const labelSelector = query.get('labelSelector')?.[0];
    if (fieldSelector !== undefined) info.fieldSelector = fieldSelector;
    if (labelSelector !== undefined) info.labelSelector = labelSelector;
  }
  return info;
}

/** namespace, resource, name and subresource from what follows the version (and any special verb). */
function readResourcePath(info: RequestInfo, rest: string[]): void {
  let parts = rest;
  if (parts[0] === 'namespaces' && parts.length > 1) {
    info.namespace = parts[1]!;
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2);
  }
  if (parts.length >= 3 && !SPECIAL_VERBS_WITHOUT_SUBRESOURCES.has(info.verb)) info.subresource = parts[2]!;
  if (parts.length >= 2) info.name = parts[1]!;
  if (parts.length >= 1) info.resource = parts[0]!;
}

/** A request without a name acts on a collection: get is list or watch (or a get by field selector), delete is deletecollection. */
function readCollectionVerb(info: RequestInfo, query: Map<string, string[]>): void {
  if (info.verb === 'get') {
    info.verb = queryFlag(query, 'watch') ? 'watch' : 'list';
    if (listOptionsDecode(query)) {
      const name = exactNameFromFieldSelector(query.get('fieldSelector')?.[0] ?? null);
      if (name !== undefined && isValidPathSegmentName(name)) info.name = name;
    }
  }
  if (info.verb === 'delete') info.verb = 'deletecollection';
}

/** True for requests that switch protocols or stream a connection (exec, attach, portforward, proxy). */
export function isConnectRequest(info: RequestInfo): boolean {
  return (
    info.verb === 'proxy' || info.subresource === 'exec' || info.subresource === 'attach' || info.subresource === 'portforward' || info.subresource === 'proxy'
  );
}
