/**
 * The plain-HTTP operations port every component serves beside its TLS port: /healthz (the process
 * is alive), /readyz (it can do its job), Prometheus /metrics and, where given, a JSON /status. Kept off the TLS port and out of
 * the access log, as Linkerd does.
 */
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import type { Registry } from 'prom-client';
import { slipped } from './guard.js';

/**
 * What /metrics serves: a prom-client Registry, or any writer of the Prometheus text format (the
 * sidecar writes its own to stay small).
 */
export interface MetricsSource {
  contentType: string;
  metrics(): Promise<string>;
}

export interface OpsServerOptions {
  host: string;
  port: number;
  registry: MetricsSource;
  /** Returns a reason string while not ready, undefined when ready. */
  notReadyReason: () => string | undefined;
  /** What /status answers as JSON (progress for `bridgectl ... status`); 404 without it. */
  status?: () => unknown;
}

/**
 * A registry per process with Node's default metrics under the component's prefix. prom-client is
 * loaded here, on first use, so a process that only serves its own metrics text (the sidecar, paid
 * once per pod) never loads it.
 */
export function createRegistry(component: string): Registry {
  const promClient = createRequire(import.meta.url)('prom-client') as typeof import('prom-client');
  const registry = new promClient.Registry();
  promClient.collectDefaultMetrics({ register: registry, prefix: `cluster_bridge_${component}_` });
  let counted = 0;
  new promClient.Counter({
    name: `cluster_bridge_${component}_unhandled_rejections_total`,
    help: 'Promise rejections nobody handled, logged and counted by the process guard (lib/process/guard.ts) instead of exiting; each is a bug',
    registers: [registry],
    collect() {
      this.inc(slipped.unhandledRejections - counted);
      counted = slipped.unhandledRejections;
    },
  });
  return registry;
}

export async function startOpsServer(options: OpsServerOptions): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    } else if (path === '/readyz') {
      const reason = options.notReadyReason();
      res.writeHead(reason ? 503 : 200, { 'content-type': 'text/plain' }).end(reason ?? 'ok');
    } else if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message),
      );
    } else if (path === '/status' && options.status) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(options.status()));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  server.keepAliveTimeout = 5000;
  server.listen(options.port, options.host);
  await once(server, 'listening');
  return server;
}
