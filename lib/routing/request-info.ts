/**
 * What a Kubernetes API request is about, decided from its method and URL alone, exactly as
 * kube-apiserver's RequestInfoFactory decides it (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go),
 * so the bridge routes and authorizes by the same facts the API server will audit. Pure; no Node APIs.
 */
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

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // Malformed escapes stay as sent; the API server answers them.
  }
}

function splitUrl(url: string): { path: string; query: URLSearchParams } {
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  return { path: rawPath, query: new URLSearchParams(q < 0 ? '' : url.slice(q + 1)) };
}

/** Like Go's runtime.Convert_Slice_string_To_bool: anything but `false` and `0` (even empty) is true. */
function queryFlag(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  if (value === null) return false;
  const lower = value.toLowerCase();
  return lower !== 'false' && lower !== '0';
}

/** A name usable as one path segment (apimachinery's path.IsValidPathSegmentName). */
function isValidPathSegmentName(name: string): boolean {
  return name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%');
}

/** Splits a field selector on commas that are not escaped with a backslash. */
function selectorTerms(selector: string): string[] {
  const terms: string[] = [];
  let current = '';
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i]!;
    if (c === '\\' && i + 1 < selector.length) {
      current += c + selector[i + 1]!;
      i++;
    } else if (c === ',') {
      terms.push(current);
      current = '';
    } else current += c;
  }
  terms.push(current);
  return terms;
}

/** The name a field selector pins `metadata.name` to (`metadata.name=x` or `==x`), as RequiresExactMatch finds it. */
export function exactNameFromFieldSelector(selector: string | null): string | undefined {
  if (!selector) return undefined;
  for (const term of selectorTerms(selector)) {
    const match = /^\s*metadata\.name\s*(==|=)(.*)$/.exec(term);
    if (match && !term.includes('!=')) return match[2]!.trim().replace(/\\(.)/g, '$1');
  }
  return undefined;
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
  const { path, query } = splitUrl(url);
  let parts = path
    .split('/')
    .filter((p) => p.length > 0)
    .map(decodeSegment);
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

  if (SPECIAL_VERBS.has(parts[0]!)) {
    info.verb = parts[0]!;
    parts = parts.slice(1);
    if (parts.length === 0) return info;
  } else {
    info.verb = METHOD_VERBS[method.toUpperCase()] ?? '';
  }

  readResourcePath(info, parts);
  if (info.name === '') readCollectionVerb(info, query);
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
function readCollectionVerb(info: RequestInfo, query: URLSearchParams): void {
  if (info.verb === 'get') {
    info.verb = queryFlag(query, 'watch') ? 'watch' : 'list';
    const name = exactNameFromFieldSelector(query.get('fieldSelector'));
    if (name !== undefined && isValidPathSegmentName(name)) info.name = name;
  }
  if (info.verb === 'delete') info.verb = 'deletecollection';
}

/** True for requests that switch protocols or stream a connection (exec, attach, portforward, proxy). */
export function isConnectRequest(info: RequestInfo): boolean {
  return (
    info.verb === 'proxy' || info.subresource === 'exec' || info.subresource === 'attach' || info.subresource === 'portforward' || info.subresource === 'proxy'
  );
}
