/**
 * The aggregator process: the TLS API port (sidecars with client certificates, and DNS-mode pods
 * without), the ops port, the routing table kept current, and the leader-only owner reconciler and
 * rollout controller.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { CatchUpClient } from '../lib/mirror/catchup-client.js';
import { loggedReload, readTlsFiles, reloadServerTls, serverContext, tlsFileSource } from '../lib/tls/certificate-source.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/process/logger.js';
import { AGGREGATOR_LEASE, SYSTEM_NAMESPACE } from '../lib/names.js';
import { startOpsServer } from '../lib/process/ops-server.js';
import { LeaderLease } from '../lib/kube/leader-lease.js';
import { connectCluster, type ClusterConnection } from '../lib/kube/cluster-connection.js';
import type { AggregatorConfig } from './config.js';
import { applyFence } from './handoff/fencing.js';
import { fenceUnenforceable, probeFenceSupport, recordFenceSupport } from './handoff/fence-support.js';
import { ShardHandoff } from './handoff/handoff.js';
import { anonymousProbe, SourceAuthenticator } from './identity/source-authenticator.js';
import { budgetPolicy, ReviewBudget } from './identity/review-budget.js';
import { AggregatorMetrics } from './metrics.js';
import { OwnerReconciler } from './handoff/owner-reconciler.js';
import { GateWindow } from './rollout/gate-window.js';
import { RolloutController } from './rollout/rollout-controller.js';
import { ShadowReads } from './request/shadow-reads.js';
import { REPLICA_GRACE_MS, ReplicaPresence, settleOnTable } from './handoff/replica-presence.js';
import { DEFAULT_SHARDS } from '../lib/routing/resource-classes.js';
import { createAggregatorHandler } from './request/proxy.js';
import type { ProxyContext } from './request/request-context.js';
import { createAggregatorUpgradeHandler } from './request/upgrade.js';
import { ConfigMapRoutingStore } from '../lib/routing/configmap-store.js';
import type { RoutingTable } from '../lib/routing/types.js';
import { RoutingState } from '../lib/routing/routing-state.js';
import { ShardActivity } from './handoff/shard-activity.js';
import { storeRoller } from './request/merged-epochs.js';
import { serveRoutingTable } from './request/routing-table-endpoint.js';
import { sendStatus } from '../lib/routing/status-responses.js';
import { applyServerTimeouts, DEFAULT_SERVER_TIMEOUTS, serverTimeoutOptions, type ServerTimeouts } from '../lib/proxy/server-timeouts.js';

export interface RunningAggregator {
  port: number;
  opsPort: number;
  routing: RoutingState;
  handoff: ShardHandoff | undefined;
  rollout: RolloutController;
  close(): Promise<void>;
}

export interface AggregatorOptions {
  /** The API port's clocks (lib/proxy/server-timeouts.ts); tests shorten them. */
  serverTimeouts?: Partial<ServerTimeouts>;
}

export async function startAggregator(config: AggregatorConfig, log: Logger, options: AggregatorOptions = {}): Promise<RunningAggregator> {
  const timeouts = { ...DEFAULT_SERVER_TIMEOUTS, ...options.serverTimeouts };
  const clusters: Record<'source' | 'destination', ClusterConnection> = {
    source: await connectCluster('source', config.sourceKubeconfig),
    destination: await connectCluster('destination', config.destinationKubeconfig),
  };
  const gates = new GateWindow();
  const metrics = new AggregatorMetrics(gates);
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
  const tls = readTlsFiles(config.tls);
  const catchUp =
    config.synchronizerUrl && tls.client
      ? new CatchUpClient({ url: config.synchronizerUrl, caPem: tls.ca!, certPem: tls.client.cert, keyPem: tls.client.key })
      : undefined;
  let warnedUnfenced = false;
  const fence = async (table: RoutingTable, changing?: string) => {
    const shards = await applyFence(clusters.source.rest, table, changing);
    if (shards !== 'unsupported') return void log.info({ fenced: shards }, 'source fence updated');
    if (!warnedUnfenced) log.warn('the source serves no admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy: no shard may move to the destination');
    warnedUnfenced = true;
  };
  // Looked at again before every move to the destination (the source may have been upgraded), and recorded for `bridgectl status`.
  const assertFenceable = async (shard: string) => {
    const support = await probeFenceSupport(clusters.source.rest);
    await recordFenceSupport(clusters.destination.rest, support).catch((err: unknown) =>
      log.warn({ err: errorMessage(err) }, 'cannot record the fence support'),
    );
    if (!support.enforceable) throw fenceUnenforceable(support, shard);
  };
  await probeFenceSupport(clusters.source.rest)
    .then((support) => {
      if (!support.enforceable) log.warn({ reason: support.reason }, 'the source cannot enforce the fence: hand-offs to the destination are refused');
      return recordFenceSupport(clusters.destination.rest, support);
    })
    .catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'cannot check or record whether the source enforces the fence'));
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
        namespaceTypes: config.namespaceTypes,
        fence,
        assertFenceable,
        replicas: presence,
        replicaWaitMs,
      })
    : undefined;
  const shadow = new ShadowReads({ clusters, metrics, log });
  const ctx: ProxyContext = {
    clusters,
    routing,
    auth: new SourceAuthenticator({
      rest: clusters.source.rest,
      anonymous: anonymousProbe(clusters.source),
      budget: new ReviewBudget(budgetPolicy(config.unknownTokenReviewsPerSecond)),
    }),
    activity,
    metrics,
    shadow,
    presence,
    log,
    mergedEpochs: storeRoller(store, routing),
  };

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
    gates,
    isLeader: () => lease.isLeader(),
    defaultShards: [...DEFAULT_SHARDS],
    source: clusters.source.rest,
    namespaceTypes: config.namespaceTypes,
    shadow,
    log,
  });
  rollout.start();

  const handle = createAggregatorHandler(ctx);
  const server: Server = createServer(
    {
      ...serverContext(tls),
      // Client certificates are optional (DNS-mode pods have none), but verified when given; identity
      // headers are then accepted only from a verified sidecar certificate (identity.ts).
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      ...serverTimeoutOptions(timeouts),
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
  // Requests arrive whole within bounds; responses (watches, exec streams) run for hours.
  applyServerTimeouts(server, timeouts);
  const upgrade = createAggregatorUpgradeHandler(ctx);
  server.on('upgrade', (req, socket, head) => {
    upgrade(req, socket, head).catch(() => socket.destroy());
  });
  server.listen(config.listenPort, config.listenHost);
  await once(server, 'listening');
  const tlsReload = reloadServerTls(
    server,
    tlsFileSource(config.tls),
    tls,
    serverContext,
    loggedReload(log, 'aggregator', (next) => {
      if (next.client) catchUp?.useCredentials({ caPem: next.ca!, certPem: next.client.cert, keyPem: next.client.key });
    }),
  );
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
      tlsReload.close();
      server.closeIdleConnections();
      server.close();
      server.closeAllConnections();
      ops.close();
      catchUp?.close();
      for (const cluster of Object.values(clusters)) cluster.close();
    },
  };
}
