/**
 * Starts the sidecar: waits for its serving certificate, listens with TLS on loopback, serves
 * /healthz /readyz /metrics on the plain ops port, hot-swaps certificates, and shuts down gracefully.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { startOpsServer } from '../lib/process/ops-server.js';
import { applyServerTimeouts, DEFAULT_SERVER_TIMEOUTS, serverTimeoutOptions, type ServerTimeouts } from '../lib/proxy/server-timeouts.js';
import { allToUpstream, type UpstreamSelector } from './upstream-selector.js';
import { DEFAULT_BREAKER_POLICY, type BreakerPolicy } from './circuit-breaker.js';
import type { SidecarConfig } from './config.js';
import { createRequestForwarder } from './forward-request.js';
import { createUpgradeForwarder } from './forward-upgrade.js';
import type { ForwardContext } from './forward-context.js';
import { InFlight } from './in-flight.js';
import { createSidecarLog, type SidecarLog } from './log.js';
import { createSidecarMetrics, type SidecarMetrics } from './metrics.js';
import { caFileSource, readTlsFiles, reloadOnChange, reloadServerTls, serverContext, tlsDirPaths, tlsFileSource } from '../lib/tls/certificate-source.js';
import { UpstreamHealth } from './upstream-health.js';
import { UpstreamPool } from './upstream-pool.js';
import { LocalRoutingSelector } from './local-routing.js';
import { RoutingTableClient, upstreamTableFetch, type TableFetch } from './routing-table-client.js';

const DEFAULT_TLS_POLL_MS = 10_000;

export interface SidecarOptions {
  /** Defaults to the sidecar's own JSON-lines logger; any pino logger fits too. */
  log?: SidecarLog;
  selector?: UpstreamSelector;
  breakerPolicy?: Partial<BreakerPolicy>;
  /** How often the TLS directory is polled besides the file watch. */
  /** How often the TLS folder is read even without a change notice (default 10 s). */
  tlsPollMs?: number;
  /** Wraps the routing table's fetch (tests hold a long poll back to simulate a stale table). */
  wrapTableFetch?: (fetch: TableFetch) => TableFetch;
  /** The API port's clocks (lib/proxy/server-timeouts.ts); tests shorten them. */
  serverTimeouts?: Partial<ServerTimeouts>;
}

export interface Sidecar {
  port: number;
  opsPort: number;
  server: Server;
  pool: UpstreamPool;
  health: UpstreamHealth;
  inFlight: InFlight;
  metrics: SidecarMetrics;
  /** Set when local routing is on: the routing table it decides by. */
  routingTable: RoutingTableClient | undefined;
  /** Graceful stop: refuse new connections, end watches cleanly, wait for in-flight requests up to `graceMs`. */
  shutdown(graceMs?: number): Promise<void>;
}

async function waitForCertificate(dir: string, log: SidecarLog): Promise<void> {
  const { certFile, keyFile } = tlsDirPaths(dir);
  for (let waited = 0; !(existsSync(certFile) && existsSync(keyFile)); waited++) {
    if (waited % 10 === 0) log.info({ dir }, 'waiting for the serving certificate (tls.crt, tls.key)');
    await sleep(1000);
  }
}

export async function startSidecar(config: SidecarConfig, options: SidecarOptions = {}): Promise<Sidecar> {
  const log = options.log ?? createSidecarLog('sidecar');
  await waitForCertificate(config.tlsDir, log);
  // ca.crt (trust for the upstream) and client.crt/.key (mTLS to it) are optional in the sidecar's folder.
  const tlsFiles = { paths: tlsDirPaths(config.tlsDir), options: { required: false } };
  const material = readTlsFiles(tlsFiles.paths, tlsFiles.options);
  const local = config.localApiserver ? { endpoint: config.localApiserver, caPem: await caFileSource(config.localCaFile).load() } : undefined;
  const pool = new UpstreamPool(config.upstream, material, local);
  const inFlight = new InFlight();
  let routingTable: RoutingTableClient | undefined;
  const metrics = createSidecarMetrics({
    activeRequests: () => inFlight.active,
    upgradedStreams: () => inFlight.upgraded.size,
    backendSockets: () => pool.socketCounts(),
    routingTable: () =>
      routingTable && {
        generation: routingTable.routing.table.generation,
        ageSeconds: routingTable.ageMs() === undefined ? undefined : routingTable.ageMs()! / 1000,
        fresh: routingTable.fresh,
      },
  });
  let selector = options.selector ?? allToUpstream;
  if (!options.selector && config.localRouting && local) {
    const maxAgeMs = config.routingTableMaxAgeMs;
    let localRouting: LocalRoutingSelector | undefined;
    routingTable = new RoutingTableClient({
      fetch: options.wrapTableFetch ? options.wrapTableFetch(upstreamTableFetch(pool)) : upstreamTableFetch(pool),
      maxAgeMs,
      // A third of the bound: a quiet table is confirmed twice per bound, with a round trip to spare.
      waitSeconds: maxAgeMs / 3000,
      log,
      onChange: () => localRouting?.tableChanged(),
      onFetch: (result) => metrics.routingTableFetch(result),
    });
    selector = localRouting = new LocalRoutingSelector(routingTable);
    routingTable.start();
  }
  const health = new UpstreamHealth(
    { ...DEFAULT_BREAKER_POLICY, failureThreshold: config.breakerFailureThreshold, ...options.breakerPolicy },
    () => pool.upstream,
    config.connectTimeoutMs,
    log,
    (open) => metrics.breakerOpen(open),
  );
  const ctx: ForwardContext = {
    pool,
    health,
    selector,
    failMode: config.failMode,
    connectTimeoutMs: config.connectTimeoutMs,
    localWriteMaxBytes: config.localWriteMaxBytes,
    identity: { pod: config.pod.name, namespace: config.pod.namespace, node: config.pod.node, hop: 'sidecar' },
    metrics,
    inFlight,
    log,
    ...(routingTable ? { fallbackView: () => routingTable.view() } : {}),
  };

  const timeouts = { ...DEFAULT_SERVER_TIMEOUTS, ...options.serverTimeouts };
  const server: Server = createServer({
    cert: material.cert,
    key: material.key,
    noDelay: true,
    // A request arrives whole within bounds; watches, log follows and exec streams then run for hours.
    ...serverTimeoutOptions(timeouts),
    // Longer than clients' idle pools so the client, not the sidecar, closes idle keep-alive sockets.
    keepAliveTimeout: 120_000,
  });
  applyServerTimeouts(server, timeouts);
  server.on('request', createRequestForwarder(ctx));
  server.on('upgrade', createUpgradeForwarder(ctx));
  server.on('clientError', (_err, socket) => socket.destroy());
  // Every TCP connection, for the end of shutdown: closeAllConnections() only knows connections that
  // reached the HTTP layer, not ones still in (or done with only) the TLS handshake.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  server.listen(config.listenPort, config.listenHost);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;

  const watcher = reloadServerTls(
    server,
    tlsFileSource(tlsFiles.paths, tlsFiles.options),
    material,
    // The loopback listener asks no client certificate: ca.crt is for the upstream only.
    (next) => serverContext({ cert: next.cert, key: next.key }),
    {
      onChange(next) {
        pool.rotate(next);
        metrics.certReload('ok');
        log.info('TLS files changed: serving and client certificates reloaded');
      },
      onError(err) {
        metrics.certReload('error');
        log.error({ err: String(err) }, 'TLS files changed but do not load; keeping the previous certificates');
      },
    },
    options.tlsPollMs ?? DEFAULT_TLS_POLL_MS,
  );
  // The cluster CA that verifies the local API server rotates too (a projected ConfigMap, swapped like a Secret).
  const localCaWatcher = local
    ? reloadOnChange(
        caFileSource(config.localCaFile),
        local.caPem,
        {
          onChange(next) {
            pool.rotateLocalCa(next);
            metrics.certReload('ok');
            log.info({ file: config.localCaFile }, 'the local API server CA changed: reloaded');
          },
          onError(err) {
            metrics.certReload('error');
            log.error({ err: String(err), file: config.localCaFile }, 'the local API server CA changed but does not load; keeping the previous one');
          },
        },
        options.tlsPollMs ?? DEFAULT_TLS_POLL_MS,
      )
    : undefined;

  const ops: HttpServer = await startOpsServer({
    host: config.opsHost,
    port: config.opsPort,
    registry: metrics.registry,
    notReadyReason: () => (inFlight.draining ? 'shutting down' : undefined),
  });
  const opsPort = (ops.address() as AddressInfo).port;
  log.info(
    { port, opsPort, upstream: config.upstream, failMode: config.failMode, local: config.localApiserver, localRouting: Boolean(routingTable) },
    'sidecar listening',
  );

  let stopping: Promise<void> | undefined;
  const shutdown = (graceMs = config.shutdownGraceMs) =>
    (stopping ??= (async () => {
      inFlight.draining = true;
      log.info({ active: inFlight.active, watches: inFlight.longRunningCount, upgraded: inFlight.upgraded.size, graceMs }, 'shutting down');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      inFlight.endLongRunning();
      const idleTimer = setInterval(() => server.closeIdleConnections(), 250);
      const timer = new AbortController();
      const deadline = sleep(graceMs, 'deadline' as const, { signal: timer.signal }).catch(() => 'idle' as const);
      const result = await Promise.race([inFlight.idle().then(() => 'idle' as const), deadline]);
      timer.abort();
      clearInterval(idleTimer);
      if (result === 'deadline') log.warn({ active: inFlight.active, upgraded: inFlight.upgraded.size }, 'grace period over: closing what is left');
      inFlight.destroyUpgraded();
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await closed;
      watcher.close();
      localCaWatcher?.close();
      routingTable?.stop();
      health.stop();
      pool.destroy();
      const opsClosed = new Promise<void>((resolve) => ops.close(() => resolve()));
      ops.closeAllConnections();
      await opsClosed;
    })());

  return { port, opsPort, server, pool, health, inFlight, metrics, routingTable, shutdown };
}
