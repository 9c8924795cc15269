/**
 * resourceVersions in YAML request bodies (`application/yaml`, `application/apply-patch+yaml`). Only the
 * text of each RV scalar is replaced, in its own style (plain stays plain, quotes stay quotes); every
 * other character is kept, so the document means to kube-apiserver's YAML 1.1 reader exactly what it
 * meant before. What this YAML 1.2 parser might read differently from Go's is refused: aliases and
 * merge keys on the way to an RV, and plain RVs that are not canonical decimals (`0123` is octal in
 * YAML 1.1).
 */
import { isAlias, isMap, isScalar, isSeq, parseAllDocuments, type Node, type Scalar } from 'yaml';
import { BridgeError } from '../errors.js';
import { mapContinueToken } from './resource-version.js';

interface Edit {
  start: number;
  end: number;
  text: string;
}

function refuse(message: string): never {
  throw new BridgeError('BRIDGE_ERR_REQUEST_BODY', `YAML body: ${message}`);
}

/** The value node under `key` in a map node, refusing merge keys and aliases on the way. */
function child(node: unknown, key: string): unknown {
  if (!isMap(node)) return undefined;
  let found: unknown;
  for (const pair of node.items) {
    const name = isScalar(pair.key) ? pair.key.value : pair.key;
    if (name === '<<') refuse('merge keys (<<) are not supported in a body whose resourceVersions are mapped');
    if (name === key) found = pair.value;
  }
  if (isAlias(found)) refuse(`an alias at ${key} is not supported in a body whose resourceVersions are mapped`);
  return found;
}

/** The edit for one RV-like scalar, or undefined when it is null or unchanged. `map` undefined: stale. */
function scalarEdit(text: string, node: Scalar, map: (value: string) => string | undefined, onStale: () => void): Edit | undefined {
  if (!node.range || node.value === null) return undefined;
  const [start, end] = node.range;
  const quote = node.type === 'QUOTE_DOUBLE' ? '"' : node.type === 'QUOTE_SINGLE' ? "'" : node.type === 'PLAIN' ? '' : refuse('a block scalar RV');
  const value = quote === '' ? text.slice(start, end) : String(node.value);
  if (quote === '' && typeof node.value === 'number' && !/^(0|[1-9]\d*)$/.test(value)) refuse(`the resourceVersion ${value} is not a decimal`);
  const mapped = map(value);
  if (mapped === undefined) {
    onStale();
    return undefined;
  }
  if (mapped === value) return undefined;
  // Continue tokens are base64url: quoted, so a plain token can never read as another type.
  const style = quote === '' && !/^\d+$/.test(mapped) ? '"' : quote;
  return { start, end, text: `${style}${mapped}${style}` };
}

/** The edits of one document: metadata, its items' metadata, DeleteOptions preconditions. */
function documentEdits(text: string, root: unknown, map: (rv: string) => string | undefined, onStale: () => void): Edit[] {
  const edits: Edit[] = [];
  const at = (node: unknown, mapper: (value: string) => string | undefined) => {
    if (isAlias(node)) refuse('an alias as a resourceVersion is not supported');
    if (isScalar(node)) {
      const edit = scalarEdit(text, node, mapper, onStale);
      if (edit) edits.push(edit);
    }
  };
  const metadata = child(root, 'metadata');
  at(child(metadata, 'resourceVersion'), map);
  at(child(metadata, 'continue'), (token) => mapContinueToken(token, map));
  at(child(child(root, 'preconditions'), 'resourceVersion'), map);
  const items = child(root, 'items');
  if (isSeq(items)) for (const item of items.items) at(child(child(item, 'metadata'), 'resourceVersion'), map);
  return edits;
}

/** Rewrites the RVs of every document of a YAML body; 'stale' when one is of an older epoch. */
export function rewriteYamlRVs(text: string, map: (rv: string) => string | undefined): string | 'stale' {
  let stale = false;
  const edits: Edit[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (!('errors' in doc)) continue;
    if (doc.errors.length > 0) refuse(doc.errors[0]!.message);
    edits.push(...documentEdits(text, doc.contents as Node | null, map, () => (stale = true)));
  }
  if (stale) return 'stale';
  if (edits.length === 0) return text;
  edits.sort((a, b) => a.start - b.start);
  let out = '';
  let copiedTo = 0;
  for (const edit of edits) {
    out += text.slice(copiedTo, edit.start) + edit.text;
    copiedTo = edit.end;
  }
  return out + text.slice(copiedTo);
}
