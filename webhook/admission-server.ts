/**
 * The HTTPS AdmissionReview server (express): Content-Type check, body cap, explicit timeouts,
 * certificate hot-swap without restart, and a graceful drain. Health and metrics live on the
 * separate plain ops port (lib/process/ops-server.ts), outside this server and its logs.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from '../lib/process/logger.js';
import type { CertificateAndKey } from '../lib/tls/pki.js';
import { BridgeError } from '../lib/errors.js';
import { handleAdmission, reviewErrorBody, type AdmissionOutcome, type HandlerDeps } from './admission-handler.js';
import type { WebhookMetrics } from './metrics.js';

export const MUTATE_PATH = '/mutate';
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface AdmissionServerOptions {
  host: string;
  port: number;
  tls: CertificateAndKey;
  maxBodyBytes?: number;
  handler: HandlerDeps;
  metrics: WebhookMetrics;
  log: Logger;
  /** Replaces the admission logic (benchmarks use a no-op here to measure the server stack alone). */
  handle?: typeof handleAdmission;
  /** Side effects after the answer is sent (Events); never called for dry runs by the recorder. */
  afterAdmission?: (outcome: AdmissionOutcome) => void;
}

export interface AdmissionServer {
  server: Server;
  port: number;
  /** Stop accepting, let in-flight reviews finish (up to graceMs), then close. */
  drain(graceMs?: number): Promise<void>;
}

function logOutcome(log: Logger, outcome: AdmissionOutcome): void {
  const fields = {
    uid: outcome.uid,
    namespace: outcome.namespace,
    name: outcome.name,
    reason: outcome.reason,
    mode: outcome.mode,
    dryRun: outcome.dryRun,
    patchOperations: outcome.patchOperations,
    ...(outcome.message ? { detail: outcome.message } : {}),
  };
  if (outcome.reason === 'error') log.warn(fields, 'injection failed; pod admitted unchanged (fail open)');
  else if (outcome.reason === 'bad-request') log.warn(fields, 'rejected a malformed admission request');
  else if (outcome.reason === 'injected' || outcome.reason === 'reinject') log.info(fields, 'pod injected');
  else log.debug(fields, 'pod not injected');
}

export function createAdmissionApp(options: Omit<AdmissionServerOptions, 'host' | 'port' | 'tls'>): express.Express {
  const { metrics, log } = options;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Raw bytes: we check the type and parse ourselves, to answer every failure with our own clear message.
  app.post(MUTATE_PATH, express.raw({ type: () => true, limit: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES }), (req: Request, res: Response) => {
    const started = process.hrtime.bigint();
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const result = (options.handle ?? handleAdmission)(body, req.get('content-type'), options.handler);
    res.status(result.status).json(result.body);
    const { outcome } = result;
    if (result.status >= 400) metrics.badRequests.inc({ status: String(result.status) });
    else metrics.admissions.inc({ reason: outcome.reason, mode: outcome.mode ?? '', dry_run: String(outcome.dryRun) });
    metrics.duration.observe({ reason: outcome.reason }, Number(process.hrtime.bigint() - started) / 1e9);
    logOutcome(log, outcome);
    options.afterAdmission?.(outcome);
  });
  app.use((_req: Request, res: Response) => {
    const refused = new BridgeError('BRIDGE_ERR_ADMISSION_REVIEW', `POST AdmissionReviews to ${MUTATE_PATH}`, { status: 404, statusReason: 'NotFound' });
    res.status(refused.status).json(reviewErrorBody(refused));
  });
  // body-parser errors: too large (413), bad encoding (415), aborted (400).
  app.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, next: NextFunction) => {
    void next;
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : undefined;
    const refused = new BridgeError('BRIDGE_ERR_ADMISSION_REVIEW', err.message, { status, cause: err });
    metrics.badRequests.inc({ status: String(refused.status) });
    log.warn({ status: refused.status, type: err.type, err: err.message }, 'rejected an admission request');
    if (!res.headersSent) res.status(refused.status).json(reviewErrorBody(refused));
  });
  return app;
}

export async function startAdmissionServer(options: AdmissionServerOptions): Promise<AdmissionServer> {
  const app = createAdmissionApp(options);
  const server = createServer({ cert: options.tls.certPem, key: options.tls.keyPem, minVersion: 'TLSv1.2' }, app);
  // The API server keeps connections open between reviews; slow or stuck clients are cut off.
  server.keepAliveTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.maxHeadersCount = 100;
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    async drain(graceMs = 10_000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
