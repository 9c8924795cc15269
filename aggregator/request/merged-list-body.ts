/**
 * The body of a merged list (ns-design section 3), from the backends' pages: a List or a Table
 * (`as=Table`: rows merged, column definitions from the first page). Each item or row is kept from the
 * side that owns its namespace (merged-ownership.ts) and presents the resourceVersion its namespace
 * shard presents (a namespaced GET of it shows the same); the list presents the merged RV and the
 * bridge's continue token. remainingItemCount is omitted: the owner filter makes the backends' counts
 * wrong (kube-apiserver omits it under selectors too).
 */
import { responseRVMapper, rewriteObjectRVs } from '../../lib/routing/resource-version.js';
import type { ClusterSide, RoutingTable } from '../../lib/routing/types.js';
import { keptFrom, namespaceCodecs } from './merged-ownership.js';

type Json = Record<string, unknown>;

export interface ListPage {
  side: ClusterSide;
  /** The backend's decoded List or Table. */
  body: Json;
}

export interface MergedListMeta {
  /** The merged resourceVersion of the list (both backends' list revisions). */
  resourceVersion: string;
  /** The bridge's continue token for the next page; '' or absent: the last page. */
  continueToken?: string;
}

function namespaceOf(object: unknown): string | undefined {
  const metadata = (object as Json | undefined)?.metadata as Json | undefined;
  return typeof metadata?.namespace === 'string' ? metadata.namespace : undefined;
}

/** kube-apiserver lists in key order (`<namespace>/<name>`); a merged list of whole backends keeps it. */
function keyOf(object: unknown): string {
  const metadata = (object as Json | undefined)?.metadata as Json | undefined;
  return `${String(metadata?.namespace ?? '')}/${String(metadata?.name ?? '')}`;
}

function byKey(a: { key: string }, b: { key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** `sortByKey`: the pages are whole lists (no pagination), so the union is put back in key order. */
export function mergeListPages(table: RoutingTable, pages: readonly ListPage[], meta: MergedListMeta, sortByKey: boolean): Json {
  const codecFor = namespaceCodecs(table);
  const kept: { key: string; value: unknown }[] = [];
  const isTable = pages[0]?.body.kind === 'Table';
  for (const { side, body } of pages) {
    const entries = ((isTable ? body.rows : body.items) ?? []) as unknown[];
    for (const entry of entries) {
      const object = isTable ? (entry as Json).object : entry;
      const namespace = namespaceOf(object);
      if (!keptFrom(table, side, namespace)) continue;
      const codec = codecFor(namespace ?? '');
      if (!codec.isIdentity) rewriteObjectRVs(object, responseRVMapper(codec));
      kept.push({ key: keyOf(object), value: entry });
    }
  }
  if (sortByKey) kept.sort(byKey);
  const first = pages[0]?.body ?? {};
  const metadata: Json = { resourceVersion: meta.resourceVersion };
  if (meta.continueToken) metadata.continue = meta.continueToken;
  const merged: Json = { ...first, metadata };
  if (isTable) merged.rows = kept.map((k) => k.value);
  else merged.items = kept.map((k) => k.value);
  return merged;
}
