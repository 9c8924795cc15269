/**
 * The aggregator process: the TLS API port (sidecars with client certificates, and DNS-mode pods
 * without), the ops port, the routing table kept current, and the leader-only owner reconciler and
 * rollout controller.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { CatchUpClient } from '../lib/catchup-client.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { AGGREGATOR_LEASE, SYSTEM_NAMESPACE } from '../lib/names.js';
import { startOpsServer } from '../lib/ops-server.js';
import { LeaderLease } from '../lib/leader-lease.js';
import { connectCluster, type ClusterConnection } from '../lib/cluster-connection.js';
import type { AggregatorConfig } from './config.js';
import { applyFence } from './fencing.js';
import { ShardHandoff } from './handoff.js';
import { SourceAuthenticator } from './identity.js';
import { AggregatorMetrics } from './metrics.js';
import { OwnerReconciler } from './owner-reconciler.js';
import { RolloutController } from './rollout/rollout-controller.js';
import { ShadowReads } from './shadow-reads.js';
import { REPLICA_GRACE_MS, ReplicaPresence, settleOnTable } from './replica-presence.js';
import { DEFAULT_SHARDS } from '../lib/routing/resource-classes.js';
import { createAggregatorHandler, createAggregatorUpgradeHandler, type ProxyContext } from './proxy.js';
import { ConfigMapRoutingStore } from '../lib/routing/configmap-store.js';
import type { RoutingTable } from '../lib/routing/types.js';
import { RoutingState } from '../lib/routing/routing-state.js';
import { ShardActivity } from './shard-activity.js';
import { serveRoutingTable } from './routing-table-endpoint.js';
import { sendStatus } from '../lib/status-responses.js';

export interface RunningAggregator {
  port: number;
  opsPort: number;
  routing: RoutingState;
  handoff: ShardHandoff | undefined;
  rollout: RolloutController;
  close(): Promise<void>;
}

export async function startAggregator(config: AggregatorConfig, log: Logger): Promise<RunningAggregator> {
  const clusters: Record<'source' | 'destination', ClusterConnection> = {
    source: await connectCluster('source', config.sourceKubeconfig),
    destination: await connectCluster('destination', config.destinationKubeconfig),
  };
  const metrics = new AggregatorMetrics();
  const routing = new RoutingState();
  const store = new ConfigMapRoutingStore(clusters.destination.rest, log);
  const first = await store.load();
  routing.update(first.table, first.version);
  const activity = new ShardActivity();
  const lease = new LeaderLease(clusters.destination.rest, SYSTEM_NAMESPACE, AGGREGATOR_LEASE, log, config.leaseDurationSeconds, config.leaseRenewSeconds);
  const presence = new ReplicaPresence({
    client: clusters.destination.rest,
    namespace: SYSTEM_NAMESPACE,
    identity: lease.identity,
    leaseDurationSeconds: config.leaseDurationSeconds,
    renewSeconds: config.leaseRenewSeconds,
    log,
  });
  await presence.start(routing.table.generation);
  const stopWatch = store.watchVersions((table, version) => {
    const before = routing.table;
    if (routing.update(table, version))
      settleOnTable(before, table, activity, presence).catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'settling on a new routing table failed'));
  });
  const caPem = readFileSync(config.tls.caFile, 'utf8');
  const catchUp = config.synchronizerUrl
    ? new CatchUpClient({
        url: config.synchronizerUrl,
        caPem,
        certPem: readFileSync(config.tls.clientCertFile!, 'utf8'),
        keyPem: readFileSync(config.tls.clientKeyFile!, 'utf8'),
      })
    : undefined;
  let warnedUnfenced = false;
  const fence = async (table: RoutingTable, changing?: string) => {
    const shards = await applyFence(clusters.source.rest, table, changing);
    if (shards !== 'unsupported') return void log.info({ fenced: shards }, 'source fence updated');
    if (!warnedUnfenced)
      log.warn('the source serves no admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy (Kubernetes < 1.30): moved shards are not fenced there');
    warnedUnfenced = true;
  };
  // The fence follows the table from the start (a restart after a crash mid-migration included).
  await fence(routing.table);
  // A dead replica's Lease has expired (and the replica fenced itself) by the end of this wait.
  const replicaWaitMs = config.leaseDurationSeconds * 1000 + REPLICA_GRACE_MS + 1000;
  const handoff = catchUp
    ? new ShardHandoff({
        store,
        routing,
        activity,
        clusters,
        catchUp,
        metrics,
        log,
        catchUpTimeoutMs: config.catchUpTimeoutMs,
        fence,
        replicas: presence,
        replicaWaitMs,
      })
    : undefined;
  const shadow = new ShadowReads({ clusters, metrics, log });
  const ctx: ProxyContext = { clusters, routing, auth: new SourceAuthenticator(clusters.source.rest), activity, metrics, shadow, presence, log };

  lease.start((leader) => log.info({ leader, identity: lease.identity }, leader ? 'leading: this replica runs hand-offs' : 'not leading'));
  const reconciler = new OwnerReconciler({
    destination: clusters.destination.rest,
    routing,
    store,
    owners: handoff,
    replicas: presence,
    isLeader: () => lease.isLeader(),
    fence,
    log,
  });
  reconciler.start();
  const rollout = new RolloutController({
    destination: clusters.destination.rest,
    routing,
    gates: metrics.gates,
    isLeader: () => lease.isLeader(),
    defaultShards: [...DEFAULT_SHARDS],
    shadow,
    log,
  });
  rollout.start();

  const handle = createAggregatorHandler(ctx);
  const server: Server = createServer(
    {
      cert: readFileSync(config.tls.certFile),
      key: readFileSync(config.tls.keyFile),
      ca: caPem,
      // Client certificates are optional (DNS-mode pods have none), but verified when given; identity
      // headers are then accepted only from a verified sidecar certificate (identity.ts).
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    },
    (req, res) => {
      if (serveRoutingTable(routing, shadow, req, res)) return;
      handle(req, res).catch((err: unknown) => {
        log.error({ err: errorMessage(err) }, 'request failed');
        sendStatus(res, 500, 'InternalError', 'the cluster-bridge aggregator failed');
      });
    },
  );
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0; // watches and exec streams run for hours
  const upgrade = createAggregatorUpgradeHandler(ctx);
  server.on('upgrade', (req, socket, head) => {
    upgrade(req, socket, head).catch(() => socket.destroy());
  });
  server.listen(config.listenPort, config.listenHost);
  await once(server, 'listening');
  const ops = await startOpsServer({ host: config.opsHost, port: config.opsPort, registry: metrics.registry, notReadyReason: () => undefined });
  const port = (server.address() as AddressInfo).port;
  const opsPort = (ops.address() as AddressInfo).port;
  log.info(
    { port, opsPort, source: clusters.source.url.origin, destination: clusters.destination.url.origin, handoffs: Boolean(handoff) },
    'aggregator listening',
  );

  return {
    port,
    opsPort,
    routing,
    handoff,
    rollout,
    async close() {
      rollout.stop();
      reconciler.stop();
      stopWatch();
      await presence.stop();
      await lease.release();
      server.closeIdleConnections();
      server.close();
      server.closeAllConnections();
      ops.close();
      catchUp?.close();
      for (const cluster of Object.values(clusters)) cluster.close();
    },
  };
}
