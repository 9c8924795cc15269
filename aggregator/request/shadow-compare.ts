/**
 * Compares the two clusters' answers to one read (DESIGN.md section 3, shadow reads), after removing
 * what legitimately differs: exactly what the synchronizer does not copy as is (lib/mirror/copy.ts: server
 * metadata, status, owner references (their UIDs are remapped), its own annotations) and each cluster's own objects. Pure.
 */
import { canonicalJson } from '../../lib/canonical-json.js';
import { mirroredContent, skipReason } from '../../lib/mirror/copy.js';
import { type KubeObject } from '../../lib/kube/types.js';

export interface ReadAnswer {
  status: number;
  body: unknown;
}

/** Field paths that differ (at most MAX_PATHS); empty when the answers agree. Values never appear: they may be secret. */
export type Divergence = string[];

const MAX_PATHS = 10;

function isList(body: unknown): body is { items: KubeObject[] } {
  return typeof body === 'object' && body !== null && Array.isArray((body as { items?: unknown }).items);
}

function itemKey(obj: KubeObject): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
}

/** A list as a map by namespace/name, without the cluster's own objects; list metadata (RV, continue) differs by nature. */
function normalizedItems(shard: string, body: { items: KubeObject[] }): Map<string, unknown> {
  return new Map(body.items.filter((o) => !skipReason(shard, o)).map((o) => [itemKey(o), mirroredContent(o)]));
}

function normalized(shard: string, body: unknown): unknown {
  if (isList(body)) return Object.fromEntries(normalizedItems(shard, body));
  const obj = body as KubeObject;
  return obj?.metadata && !skipReason(shard, obj) ? mirroredContent(obj) : undefined;
}

/** Paths under `path` where a and b differ, depth first. */
function differingPaths(a: unknown, b: unknown, path: string, out: string[]): void {
  if (out.length >= MAX_PATHS || canonicalJson(a) === canonicalJson(b)) return;
  const bothObjects = a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b);
  if (!bothObjects) return void out.push(path || '(root)');
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of [...keys].sort()) {
    const child = Array.isArray(a) ? `${path}[${key}]` : path ? `${path}.${key}` : key;
    differingPaths((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], child, out);
  }
}

/**
 * How the destination's answer differs from the source's. Different status codes are one divergence
 * (`(status) 200 vs 404`); a list is compared item by item (`items[ns/name].data.key`).
 */
export function compareAnswers(shard: string, source: ReadAnswer, destination: ReadAnswer): Divergence {
  if (source.status !== destination.status) return [`(status) ${source.status} vs ${destination.status}`];
  if (source.status !== 200) return [];
  const out: string[] = [];
  if (isList(source.body) && isList(destination.body)) {
    const a = normalizedItems(shard, source.body);
    const b = normalizedItems(shard, destination.body);
    for (const key of [...new Set([...a.keys(), ...b.keys()])].sort()) differingPaths(a.get(key), b.get(key), `items[${key}]`, out);
    return out;
  }
  differingPaths(normalized(shard, source.body), normalized(shard, destination.body), '', out);
  return out;
}

/** The comparable form of an answer, to tell whether the source changed between two reads. */
export function answerFingerprint(shard: string, answer: ReadAnswer): string {
  return `${answer.status}:${canonicalJson(answer.status === 200 ? normalized(shard, answer.body) : undefined)}`;
}
