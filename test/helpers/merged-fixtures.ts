/**
 * Routing tables with namespaces split between the clusters, built by hand as a completed namespace
 * hand-off leaves them (ns-design section 1), for merged-read unit tests.
 */
import { appendMergedEpoch } from '../../lib/routing/merged-rv.js';
import { beginHandoff, completeHandoff, emptyRoutingTable } from '../../lib/routing/routing-table.js';
import { namespaceShardKey } from '../../lib/routing/shard-hash.js';
import type { RoutingTable } from '../../lib/routing/types.js';

export const NOW = new Date('2026-12-07T12:00:00Z');

/** configmaps carried; `moved` namespaces owned by the destination (hand-off at source revision 500); one merged epoch at (1000, 2000). */
export function splitTable(
  moved: string[] = ['team-a'],
  merged: { source: string; destination: string } | null = { source: '1000', destination: '2000' },
): RoutingTable {
  let table: RoutingTable = { ...emptyRoutingTable(), namespaceTypes: ['configmaps'] };
  for (const ns of moved) table = completeHandoff(beginHandoff(table, namespaceShardKey(ns), 'destination', NOW), namespaceShardKey(ns), '500', NOW);
  return merged ? appendMergedEpoch(table, merged.source, merged.destination, NOW) : table;
}

export function configMap(namespace: string, name: string, rv: string): Record<string, unknown> {
  return { kind: 'ConfigMap', apiVersion: 'v1', metadata: { namespace, name, resourceVersion: rv }, data: { k: `${namespace}/${name}` } };
}

export function configMapList(rv: string, items: Record<string, unknown>[], continueToken?: string): Record<string, unknown> {
  return { kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: rv, ...(continueToken ? { continue: continueToken } : {}) }, items };
}
