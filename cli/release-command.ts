/**
 * `bridgectl release`: the way back when no aggregator runs (issue 21). On the destination, the routing
 * table gives every shard to the source (lib/routing/release.ts: a new epoch whose offset keeps
 * presented resourceVersions growing) and the desired owners say source, so an aggregator started later
 * does not move them again; on the source, the fence is removed. First it says what the destination
 * owned that the source lacks or holds in another version (unmirrored: lost to the source's clients
 * unless copied by hand). Refused while an aggregator leads, unless --force.
 */
import { removeFence } from '../aggregator/handoff/fencing.js';
import { writeDesiredOwners } from '../aggregator/handoff/owner-reconciler.js';
import { governingRollout } from '../aggregator/rollout/rollout-governance.js';
import { ROLLOUTS_PATH, type BridgeRollout } from '../aggregator/rollout/rollout-types.js';
import { kubeconfigPath } from '../lab/lab-files.js';
import { currentRevision } from '../aggregator/handoff/handoff.js';
import { connectCluster, type ClusterConnection } from '../lib/kube/cluster-connection.js';
import { BridgeError } from '../lib/errors.js';
import { parseFlags } from '../lib/process/flags.js';
import { listAllPages } from '../lib/kube/list-pages.js';
import { sameMirroredContent, skipReason } from '../lib/mirror/copy.js';
import { type KubeObject, type OwnerReference } from '../lib/kube/types.js';
import { AGGREGATOR_LEASE, SYSTEM_NAMESPACE } from '../lib/names.js';
import { ConfigMapRoutingStore } from '../lib/routing/configmap-store.js';
import { releaseToSource } from '../lib/routing/release.js';
import { DEFAULT_SHARDS } from '../lib/routing/resource-classes.js';
import type { ClusterSide, ShardKey } from '../lib/routing/types.js';
import { createLogger } from '../lib/process/logger.js';
import { discoverShardApi } from '../synchronizer/server.js';
import { objectPath } from '../synchronizer/mirror-side.js';
import { type Command, say } from './command.js';

/** What the destination owned that the source does not have as the destination has it. */
export interface Unmirrored {
  shard: ShardKey;
  /** On the destination, missing on the source. */
  missing: string[];
  /** On both, with other content on the source (older: the mirror had not copied the last change). */
  differing: string[];
  /** On the source only: deleted on the destination, still there on the source. */
  deletedOnDestination: string[];
}

const keyOf = (o: KubeObject) => `${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

/** Compares one destination-owned shard across the clusters (the cluster's own objects left out). */
export function compareShard(shard: ShardKey, destination: KubeObject[], source: KubeObject[]): Unmirrored {
  const mirrored = (o: KubeObject) => !skipReason(shard, o);
  const onSource = new Map(source.filter(mirrored).map((o) => [keyOf(o), o]));
  const out: Unmirrored = { shard, missing: [], differing: [], deletedOnDestination: [] };
  for (const obj of destination.filter(mirrored)) {
    const copy = onSource.get(keyOf(obj));
    onSource.delete(keyOf(obj));
    if (!copy) out.missing.push(keyOf(obj));
    // Owner references carry each cluster's UIDs: compared as the source has them.
    else if (!sameMirroredContent(obj, copy, (copy.metadata.ownerReferences ?? []) as OwnerReference[])) out.differing.push(keyOf(obj));
  }
  out.deletedOnDestination = [...onSource.keys()];
  return out;
}

async function unmirrored(clusters: Record<ClusterSide, ClusterConnection>, shard: ShardKey): Promise<Unmirrored> {
  const api = await discoverShardApi(clusters.destination, shard);
  const list = async (side: ClusterSide) => (await listAllPages<KubeObject>(clusters[side].rest, objectPath(api, undefined))).items;
  return compareShard(shard, await list('destination'), await list('source'));
}

/** The aggregator leader's Lease, when renewed within its duration: an aggregator runs. */
async function leadingAggregator(destination: ClusterConnection): Promise<string | undefined> {
  const path = `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases/${AGGREGATOR_LEASE}`;
  const got = await destination.rest.request<{ spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number } }>('GET', path);
  const spec = got.status === 200 ? got.body.spec : undefined;
  if (!spec?.holderIdentity || !spec.renewTime) return undefined;
  const fresh = Date.parse(spec.renewTime) + (spec.leaseDurationSeconds ?? 30) * 1000 > Date.now();
  return fresh ? spec.holderIdentity : undefined;
}

function describe(report: Unmirrored): string[] {
  const sample = (keys: string[]) => `${keys.slice(0, 10).join(', ')}${keys.length > 10 ? `, ... (${keys.length - 10} more)` : ''}`;
  const lines: string[] = [];
  if (report.missing.length) lines.push(`  ${report.shard}: ${report.missing.length} on the destination only: ${sample(report.missing)}`);
  if (report.differing.length) lines.push(`  ${report.shard}: ${report.differing.length} older or different on the source: ${sample(report.differing)}`);
  if (report.deletedOnDestination.length)
    lines.push(
      `  ${report.shard}: ${report.deletedOnDestination.length} deleted on the destination, still on the source: ${sample(report.deletedOnDestination)}`,
    );
  return lines;
}

export const releaseCommand: Command = {
  summary:
    'give every shard back to the source and remove the fence, with no aggregator running [--source-kubeconfig F] [--destination-kubeconfig F] [--force]; ' +
    'prints what the destination owned that the source lacks',
  async run(args) {
    const flags = parseFlags('release', args, {
      'source-kubeconfig': { type: 'string' },
      'destination-kubeconfig': { type: 'string' },
      force: { type: 'boolean' },
    });
    const clusters: Record<ClusterSide, ClusterConnection> = {
      source: await connectCluster('source', flags['source-kubeconfig'] ?? kubeconfigPath('source')),
      destination: await connectCluster('destination', flags['destination-kubeconfig'] ?? kubeconfigPath('destination')),
    };
    try {
      const leader = await leadingAggregator(clusters.destination);
      if (leader && !flags.force)
        throw new BridgeError('BRIDGE_ERR_WOULD_REPLACE', `an aggregator leads (${leader}): it changes owners itself`, {
          fix: 'use `bridgectl rollback` or `bridgectl aggregator move --to source`; or stop the aggregator, or pass --force',
        });
      const store = new ConfigMapRoutingStore(clusters.destination.rest, createLogger('release', { level: 'warn' }));
      const { table, version } = await store.load();
      const owned = Object.values(table.shards).filter((s) => s.owner === 'destination' || s.handoff);
      const reports = await Promise.all(owned.filter((s) => s.owner === 'destination').map((s) => unmirrored(clusters, s.shard)));
      const warnings = reports.flatMap(describe);
      if (warnings.length) {
        say('WARNING: unmirrored: what the destination owned that the source does not have as the destination has it');
        say('(the source serves its own version from now on; copy what you need from the destination by hand):');
        for (const line of warnings) say(line);
      } else if (reports.length) say(`the source has everything the destination owned (${reports.map((r) => r.shard).join(', ')})`);
      const released = releaseToSource(table, await currentRevision(clusters.destination), new Date(), await currentRevision(clusters.source));
      await store.replace(released.table, version);
      const shards = Object.keys(released.table.shards);
      if (shards.length) await writeDesiredOwners(clusters.destination.rest, Object.fromEntries(shards.map((s) => [s, 'source' as const])));
      await removeFence(clusters.source.rest);
      say(`released: ${released.returned.length ? released.returned.join(', ') : 'no shard'} back to the source; holds dropped; the source's fence removed`);
      const rollouts = await clusters.destination.rest.request<{ items: BridgeRollout[] }>('GET', ROLLOUTS_PATH);
      const governing = rollouts.status === 200 ? shards.map((s) => governingRollout(rollouts.body.items, s, DEFAULT_SHARDS)).find(Boolean) : undefined;
      if (governing)
        say(
          `WARNING: BridgeRollout "${governing.metadata.name}" would move shards again once an aggregator runs: kubectl -n ${SYSTEM_NAMESPACE} delete bridgerollout ${governing.metadata.name}`,
        );
    } finally {
      for (const cluster of Object.values(clusters)) cluster.close();
    }
  },
};
