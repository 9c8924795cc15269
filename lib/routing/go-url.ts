/**
 * A request target read as Go's net/http reads it for kube-apiserver (url.ParseRequestURI, then
 * URL.Path and URL.Query()): the path is percent-decoded before anyone splits it, so `%2F` is a `/`
 * and `%2E%2E` is `..`; a malformed escape fails the whole request (Go answers 400 itself). The query
 * is split on `&` only (a pair holding `;` is dropped), `+` is a space, and a pair with a malformed
 * escape is dropped. Pure.
 */

const HEX = /^[0-9a-fA-F]{2}$/;
const utf8 = new TextDecoder('utf-8');

/** Go's url.unescape: undefined on a malformed `%` escape. `plusIsSpace` for query components. */
export function goUnescape(s: string, plusIsSpace: boolean): string | undefined {
  if (!s.includes('%') && !(plusIsSpace && s.includes('+'))) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '%') {
      const hex = s.slice(i + 1, i + 3);
      if (!HEX.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c === '+' && plusIsSpace) bytes.push(0x20);
    else for (const b of Buffer.from(c, 'utf8')) bytes.push(b);
  }
  return utf8.decode(Uint8Array.from(bytes));
}

export interface GoRequestTarget {
  /** URL.Path: decoded. */
  path: string;
  /** URL.RawQuery: what follows the first `?`. */
  rawQuery: string;
}

/**
 * The path and raw query of an origin-form target (`/...`) or `*`; undefined for what Go's server
 * refuses with 400 (a malformed escape, a control character, an empty target) and for the
 * absolute form (`http://host/...`), which Kubernetes clients never send and the bridge refuses.
 */
export function parseGoRequestTarget(target: string): GoRequestTarget | undefined {
  // eslint-disable-next-line no-control-regex
  if (!target || /[\x00-\x1f\x7f]/.test(target)) return undefined;
  if (target === '*') return { path: '*', rawQuery: '' };
  if (!target.startsWith('/')) return undefined;
  const q = target.indexOf('?');
  const path = goUnescape(q < 0 ? target : target.slice(0, q), false);
  return path === undefined ? undefined : { path, rawQuery: q < 0 ? '' : target.slice(q + 1) };
}

/** URL.Query(): every pair Go's url.ParseQuery keeps, in order, values per key. */
export function goParseQuery(rawQuery: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const pair of rawQuery.split('&')) {
    if (!pair || pair.includes(';')) continue;
    const eq = pair.indexOf('=');
    const key = goUnescape(eq < 0 ? pair : pair.slice(0, eq), true);
    const value = goUnescape(eq < 0 ? '' : pair.slice(eq + 1), true);
    if (key === undefined || value === undefined) continue;
    const values = out.get(key);
    if (values) values.push(value);
    else out.set(key, [value]);
  }
  return out;
}

/** RequestInfoFactory's splitPath: trimmed of `/` at both ends, then split; empty middle segments stay. */
export function goSplitPath(path: string): string[] {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? [] : trimmed.split('/');
}
