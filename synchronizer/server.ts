/**
 * The synchronizer process: one mirror per configured shard (and, with the CRD shard, per custom
 * resource type found), in the direction the routing table says (owner -> other side), turned around
 * when a hand-off completes; the catch-up API; metrics.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:https';
import { Counter, Histogram } from 'prom-client';
import { connectCluster, type ClusterConnection } from '../lib/kube/cluster-connection.js';
import { BridgeError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/process/logger.js';
import { createRegistry, startOpsServer } from '../lib/process/ops-server.js';
import { loggedReload, readTlsFiles, reloadServerTls, serverContext, tlsFileSource } from '../lib/tls/certificate-source.js';
import { LeaderLease } from '../lib/kube/leader-lease.js';
import { SYSTEM_NAMESPACE } from '../lib/names.js';
import { ConfigMapRoutingStore } from '../lib/routing/configmap-store.js';
import { isSourcePinned, isSystemNamespace, SOURCE_PINNED_SHARDS } from '../lib/routing/resource-classes.js';
import { emptyRoutingTable, lastHandoffRevision, shardState } from '../lib/routing/routing-table.js';
import { namespaceOfShard, parseShardKey } from '../lib/routing/shard-hash.js';
import type { ClusterSide, RoutingTable } from '../lib/routing/types.js';
import { hasSourceStatus } from '../lib/mirror/workload-status.js';
import { startCatchUpServer } from './catchup-server.js';
import { mirrorTarget, namespaceTarget, type CatchUpTarget } from './catchup-target.js';
import { applyDirectionChanges, carriedTypes, NamespaceDirections, wholeTypeScope, type DirectionChange } from './namespace-directions.js';
import { watchCustomResourceShards } from './crd-discovery.js';
import { CRD_SHARD, crdNameOf, crdsFirst } from './crd-readiness.js';
import { StatusMirror } from './status-mirror.js';
import { DESTINATION_TOKEN_SECONDS, type SyncConfig } from './config.js';
import { DestinationToken } from './destination-token.js';
import { mirrorSide, ShardMirror, type MirrorCounters, type MirrorProgress, type ShardApi } from './shard-mirror.js';

/** Where a shard's type is served (preferred version, namespaced or not), from the source's discovery. */
export async function discoverShardApi(cluster: ClusterConnection, shard: string): Promise<ShardApi> {
  const { group, resource } = parseShardKey(shard);
  let prefix = '/api/v1';
  if (group) {
    const found = await cluster.rest.request<{ preferredVersion?: { groupVersion?: string } }>('GET', `/apis/${group}`);
    const gv = found.status === 200 ? found.body.preferredVersion?.groupVersion : undefined;
    if (!gv)
      throw new BridgeError('BRIDGE_ERR_SYNC', `the ${cluster.side} API server does not serve the group ${group} (shard ${shard})`, {
        fix: 'install the CRD or remove the shard from BRIDGE_SHARDS',
      });
    prefix = `/apis/${gv}`;
  }
  const list = await cluster.rest.expect<{ resources?: { name: string; kind: string; namespaced: boolean }[] }>('GET', prefix, [200]);
  const entry = list.body.resources?.find((r) => r.name === resource);
  if (!entry)
    throw new BridgeError('BRIDGE_ERR_SYNC', `the ${cluster.side} API server does not serve ${resource} in ${prefix} (shard ${shard})`, {
      fix: 'remove the shard from BRIDGE_SHARDS',
    });
  const crd = await crdNameOf(cluster.rest, group, resource);
  return { prefix, resource, namespaced: entry.namespaced, kind: entry.kind, ...(crd ? { crd } : {}) };
}

/** The key in RunningSynchronizer.mirrors of a carried type's mirror from `side` (a type shard's is the shard). */
export function carriedMirrorKey(shard: string, side: ClusterSide): string {
  return `${shard}@${side}`;
}

/** The synchronizer's /status: this replica's role and each mirrored shard's progress. */
export interface SyncStatus {
  identity: string;
  leading: boolean;
  shards: string[];
  mirrors: MirrorProgress[];
}

export interface RunningSynchronizer {
  port: number;
  opsPort: number;
  mirrors: Map<string, ShardMirror>;
  writes: Counter<'shard' | 'direction' | 'verb'>;
  isLeader(): boolean;
  status(): SyncStatus;
  close(): Promise<void>;
}

export async function startSynchronizer(config: SyncConfig, log: Logger): Promise<RunningSynchronizer> {
  const clusters: Record<ClusterSide, ClusterConnection> = {
    source: await connectCluster('source', config.sourceKubeconfig),
    destination: await connectCluster('destination', config.destinationKubeconfig),
  };
  const registry = createRegistry('synchronizer');
  const writes = new Counter({
    name: 'cluster_bridge_synchronizer_writes_total',
    help: 'Objects written to the replica side, by shard, direction and verb',
    labelNames: ['shard', 'direction', 'verb'] as const,
    registers: [registry],
  });
  const failures = new Counter({
    name: 'cluster_bridge_synchronizer_errors_total',
    help: 'Objects that could not be mirrored (retried), by shard, direction and reason',
    labelNames: ['shard', 'direction', 'reason'] as const,
    registers: [registry],
  });
  const droppedReferences = new Counter({
    name: 'cluster_bridge_synchronizer_owner_references_dropped_total',
    help: "Copies written without one of the owner object's ownerReferences (its owner is never mirrored), by shard, direction and reason",
    labelNames: ['shard', 'direction', 'reason'] as const,
    registers: [registry],
  });
  const conflicts = new Counter({
    name: 'cluster_bridge_synchronizer_conflicts_total',
    help: "Replica objects changed by someone else since the synchronizer wrote them, overwritten with the owner's version, by shard and direction",
    labelNames: ['shard', 'direction'] as const,
    registers: [registry],
  });
  const lag = new Histogram({
    name: 'cluster_bridge_synchronizer_lag_seconds',
    help: "Owner change seen by the synchronizer's watch -> replica write acknowledged, by shard and direction",
    labelNames: ['shard', 'direction'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const counters: MirrorCounters = {
    written: (shard, direction, verb) => writes.inc({ shard, direction, verb }),
    failed: (shard, direction, reason) => failures.inc({ shard, direction, reason }),
    ownerReferenceDropped: (shard, direction, reason) => droppedReferences.inc({ shard, direction, reason }),
    conflict: (shard, direction) => conflicts.inc({ shard, direction }),
    lag: (shard, direction, seconds) => lag.observe({ shard, direction }, seconds),
  };
  // The configured shards, then cluster RBAC (always, source -> destination: docs/adr/0013), and the
  // custom resource types found while the CRD shard is mirrored (crd-discovery.ts).
  const shards = [...config.shards, ...SOURCE_PINNED_SHARDS];
  const apis = new Map<string, ShardApi>();
  for (const shard of shards) apis.set(shard, await discoverShardApi(clusters.source, shard));

  const mirrors = new Map<string, ShardMirror>();
  const mirrored = new Set(shards);
  const sides = { source: mirrorSide(clusters.source), destination: mirrorSide(clusters.destination) };
  // Only the Lease holder mirrors: two writers on the replica side would race each other's copies.
  const lease = new LeaderLease(clusters.destination.rest, SYSTEM_NAMESPACE, config.leaseName, log, config.leaseDurationSeconds, config.leaseRenewSeconds);
  let table: RoutingTable | undefined;
  // Workload shards the destination owns: their status still comes from the source (status-mirror.ts).
  const statusMirrors = new Map<string, StatusMirror>();
  const stopMirrors = () => {
    for (const mirror of [...mirrors.values(), ...statusMirrors.values()]) mirror.stop();
    mirrors.clear();
    statusMirrors.clear();
  };
  /** `covers`: a carried type's namespaces the destination owns (its status mirror is scoped to them). */
  const followStatus = (shard: string, owner: ClusterSide, covers?: (namespace: string) => boolean): StatusMirror | undefined => {
    const running = statusMirrors.get(shard);
    const wanted = owner === 'destination' && hasSourceStatus(shard);
    if (running && wanted && (running.covers === undefined) === (covers === undefined)) return running;
    running?.stop();
    statusMirrors.delete(shard);
    if (!wanted) return undefined;
    const mirror = new StatusMirror(shard, apis.get(shard)!, clusters.source.rest, clusters.destination.rest, counters, log, {}, covers);
    statusMirrors.set(shard, mirror);
    mirror.start();
    return mirror;
  };
  // Carried types (the table's namespaceTypes): two mirrors each, one from each side, each covering the namespaces its side owns.
  const directions = new NamespaceDirections();
  const followCarried = (shard: string, changes: readonly DirectionChange[]) => {
    // Status of the namespaces the destination owns comes from the source, as for a type shard it owns.
    const destinationOwns = directions.ownedBy('destination').length > 0;
    const status = followStatus(shard, destinationOwns ? 'destination' : 'source', (namespace) => directions.covers('destination', namespace));
    const typeMirror = mirrors.get(shard);
    mirrors.delete(shard);
    typeMirror?.stop();
    for (const side of ['source', 'destination'] as const) {
      if (mirrors.has(carriedMirrorKey(shard, side))) continue;
      const mirror = new ShardMirror(shard, apis.get(shard)!, sides[side], sides[side === 'source' ? 'destination' : 'source'], counters, log, mirrored);
      mirror.scope = directions.scope(side);
      // The type was mirrored whole from the source until now: what that mirror knew, the source side's knows.
      if (typeMirror && side === typeMirror.owner.side) mirror.inheritOwnerKeys(typeMirror);
      mirrors.set(carriedMirrorKey(shard, side), mirror);
      mirror.start();
      log.info({ shard, direction: mirror.direction }, 'mirroring the namespaces this side owns');
    }
    // A namespace turned around (or resumed): the old side forgets it, the new side reconciles it, knowing what the old had.
    applyDirectionChanges(changes, (side) => mirrors.get(carriedMirrorKey(shard, side))!);
    for (const { namespace, to } of changes) if (to === 'destination') void status?.copyNamespace(namespace);
    for (const { namespace, from, to } of changes) log.info({ shard, namespace, from, to }, from ? 'namespace turned around' : 'namespace resumed');
  };
  const stopCarried = (shard: string) => {
    for (const side of ['source', 'destination'] as const) {
      mirrors.get(carriedMirrorKey(shard, side))?.stop();
      mirrors.delete(carriedMirrorKey(shard, side));
    }
  };
  const follow = (next: RoutingTable) => {
    table = next;
    const changes = directions.update(next);
    if (!lease.isLeader()) return stopMirrors();
    const carried = new Set(carriedTypes(next, shards));
    for (const shard of crdsFirst(shards)) {
      if (carried.has(shard)) {
        followCarried(shard, changes);
        continue;
      }
      stopCarried(shard); // no longer carried: a type shard again
      // A pinned shard is the source's whatever the table says (a hand-off of it is refused anyway).
      const state = shardState(isSourcePinned(shard) ? emptyRoutingTable() : next, shard);
      const { owner, handoff } = state;
      followStatus(shard, owner);
      const running = mirrors.get(shard);
      // A mirror paused at its hand-off's catch-up waits for the hand-off to end: turned around, or resumed if it was aborted.
      if (running && running.owner.side === owner && (!running.paused || handoff)) continue;
      running?.stop();
      const replica: ClusterSide = owner === 'source' ? 'destination' : 'source';
      const mirror = new ShardMirror(shard, apis.get(shard)!, sides[owner], sides[replica], counters, log, mirrored);
      // What the old owner had is on the replica (turned around: the new replica), and a delete since the hand-off must reach it.
      if (running) mirror.inheritOwnerKeys(running);
      mirror.keepReplicaOriginals = isSourcePinned(shard);
      const handedOver = lastHandoffRevision(state);
      mirror.scope = wholeTypeScope({
        sourceFirstMarksStale: owner === 'source' && !handoff,
        ...(owner === 'destination' && handedOver?.from === 'source' ? { handedOverAtReplicaRV: handedOver.rv } : {}),
      });
      mirrors.set(shard, mirror);
      mirror.start();
      log.info({ shard, direction: mirror.direction }, 'mirroring');
    }
  };
  const discovering = new Set<string>();
  /** True when the shard is (or is being) mirrored; false when its type is not served yet (crd-discovery.ts asks again). */
  const addShard = async (shard: string): Promise<boolean> => {
    if (mirrored.has(shard) || discovering.has(shard)) return true;
    discovering.add(shard);
    try {
      apis.set(shard, await discoverShardApi(clusters.source, shard));
    } catch (err) {
      log.warn({ shard, err: errorMessage(err) }, 'cannot mirror a custom resource type found yet; trying again');
      return false;
    } finally {
      discovering.delete(shard);
    }
    shards.push(shard);
    mirrored.add(shard);
    log.info({ shard }, 'custom resource type found: mirroring it');
    if (table && lease.isLeader()) follow(table);
    return true;
  };
  const removeShard = (shard: string) => {
    if (config.shards.includes(shard) || !mirrored.has(shard)) return;
    for (const running of [mirrors, statusMirrors]) {
      running.get(shard)?.stop();
      running.delete(shard);
    }
    stopCarried(shard);
    shards.splice(shards.indexOf(shard), 1);
    mirrored.delete(shard);
    apis.delete(shard);
    log.info({ shard }, 'custom resource type gone: no longer mirrored');
  };
  const crdWatch = config.shards.includes(CRD_SHARD)
    ? watchCustomResourceShards(clusters.source.rest, { added: addShard, removed: removeShard }, log)
    : undefined;
  const store = new ConfigMapRoutingStore(clusters.destination.rest, log);
  table = (await store.load()).table;
  const stopWatch = store.watch(follow);
  lease.start((leader) => {
    log.info({ identity: lease.identity }, leader ? 'leading: mirroring the shards' : 'standing by: another replica mirrors');
    if (leader && table) follow(table);
    else stopMirrors();
  });

  /** A type shard's mirror, or a namespace shard's part of each carried type's mirror from the namespace's owner. */
  const targetFor = (shard: string): CatchUpTarget | undefined => {
    const namespace = namespaceOfShard(shard);
    if (namespace === undefined) {
      const mirror = mirrors.get(shard);
      return mirror && mirrorTarget(mirror);
    }
    const carried = table ? carriedTypes(table, shards) : [];
    if (!namespace || isSystemNamespace(namespace) || carried.length === 0) return undefined;
    const from = directions.owner(namespace);
    const parts = carried.map((type) => mirrors.get(carriedMirrorKey(type, from)));
    if (parts.some((mirror) => !mirror)) return undefined;
    return namespaceTarget(shard, namespace, from, parts as ShardMirror[], () => directions.pause(namespace, from));
  };
  const tls = readTlsFiles(config.tls);
  const catchUp: Server = await startCatchUpServer({
    host: config.listenHost,
    port: config.listenPort,
    tls: { cert: tls.cert, key: tls.key, ca: tls.ca! },
    targetFor,
    leading: () => lease.isLeader(),
    onCaughtUp: (target) => {
      target.pause();
      log.info({ shard: target.shard, from: target.from }, 'hand-off caught up: mirror paused until the hand-off ends');
    },
    log,
  });
  const tlsReload = reloadServerTls(catchUp, tlsFileSource(config.tls), tls, serverContext, loggedReload(log, 'synchronizer'));
  const destinationToken = config.destinationTokenSecret
    ? new DestinationToken({
        destination: clusters.destination.rest,
        source: clusters.source.rest,
        secret: config.destinationTokenSecret,
        expirationSeconds: DESTINATION_TOKEN_SECONDS,
        isLeader: () => lease.isLeader(),
        log,
      })
    : undefined;
  destinationToken?.start();
  const status = (): SyncStatus => ({
    identity: lease.identity,
    leading: lease.isLeader(),
    shards: [...shards],
    mirrors: [...mirrors.values()].map((m) => m.progress()),
  });
  // A standby is not ready, so a Service sends the aggregator's catch-up questions to the leader only.
  const ops = await startOpsServer({
    host: config.opsHost,
    port: config.opsPort,
    registry,
    notReadyReason: () => (lease.isLeader() ? undefined : 'standing by: another replica leads'),
    status,
  });
  const port = (catchUp.address() as AddressInfo).port;
  const opsPort = (ops.address() as AddressInfo).port;
  log.info({ port, opsPort, shards }, 'synchronizer running');
  return {
    port,
    opsPort,
    mirrors,
    writes,
    isLeader: () => lease.isLeader(),
    status,
    async close() {
      stopWatch();
      crdWatch?.stop();
      stopMirrors();
      await lease.release(); // a successor takes over at once
      tlsReload.close();
      destinationToken?.stop();
      catchUp.close();
      catchUp.closeAllConnections();
      ops.close();
      for (const cluster of Object.values(clusters)) cluster.close();
    },
  };
}
