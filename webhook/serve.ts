/** Wires the webhook process: TLS source, admission server, ops port, Events, reconciler, drain on SIGTERM. */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createLogger, type Logger } from '../lib/process/logger.js';
import { KubeRestClient } from '../lib/kube/rest-client.js';
import { startOpsServer } from '../lib/process/ops-server.js';
import { readPemPair } from '../certs/cert-files.js';
import { WebhookCertProvisioner } from '../certs/webhook-self-provisioner.js';
import { errorMessage } from '../lib/errors.js';
import { startAdmissionServer, type AdmissionServer } from './admission-server.js';
import type { InjectionConfig } from './injection-config.js';
import { LeaderLease } from '../lib/kube/leader-lease.js';
import { createWebhookMetrics } from './metrics.js';
import { NamespaceReconciler } from './namespace-reconciler.js';
import { OwnerEventRecorder } from './owner-events.js';
import type { ServeConfig } from './serve-config.js';
import { detectSidecarStyle } from './server-version.js';
import { reloadServerTls, serverContext, tlsFileSource, type CertSource } from '../lib/tls/certificate-source.js';
import type { ProvisionedTls } from '../certs/webhook-self-provisioner.js';
import { certificateLifetime } from '../lib/tls/pki.js';
import { listAndWatch } from '../lib/kube/list-watch.js';
import { INJECT_LABEL, INJECT_LABEL_VALUE } from '../lib/names.js';
import { NamespaceReadiness } from './namespace-readiness.js';

/** A pass that found a labelled namespace not ready yet (no kube-root-ca.crt) runs again this soon. */
const PENDING_RETRY_MS = 1000;

/** Mounted certificate files are also watched; this poll is the safety net. */
const FILE_CHECK_MS = 5000;

export interface RunningWebhook {
  admission: AdmissionServer;
  ops: Server;
  injection: InjectionConfig;
  stop(): Promise<void>;
}

export async function runWebhook(config: ServeConfig, log: Logger = createLogger('webhook')): Promise<RunningWebhook> {
  const metrics = createWebhookMetrics();
  const client = config.kube ? KubeRestClient.load(config.kube.kubeconfig) : undefined;

  let sidecarStyle: InjectionConfig['sidecarStyle'];
  if (config.sidecarStyle === 'auto') {
    const detected = await detectSidecarStyle(client!);
    sidecarStyle = detected.style;
    log.info(
      { serverVersion: detected.version, sidecarStyle, ...(detected.detail ? { detail: detected.detail } : {}) },
      'chose the sidecar style from the API server version',
    );
  } else sidecarStyle = config.sidecarStyle;
  const injection: InjectionConfig = { ...config.injection, sidecarStyle };

  // Files (mounted Secret, cert-manager, `bridgectl certs`), or a Secret the webhook provisions and renews itself.
  const tlsSource: CertSource<ProvisionedTls> =
    config.tls.kind === 'files'
      ? tlsFileSource({ certFile: config.tls.certFile, keyFile: config.tls.keyFile })
      : new WebhookCertProvisioner(client!, {
          namespace: config.systemNamespace,
          secretName: config.tls.secretName,
          webhookConfigName: config.tls.webhookConfigName,
          serviceName: config.serviceName,
          serviceNamespace: config.systemNamespace,
          extraDnsNames: config.tls.extraDnsNames,
          ipAddresses: config.tls.ipAddresses,
          leafValiditySeconds: config.tls.validitySeconds,
          renewBeforeSeconds: config.tls.renewBeforeSeconds,
          caValidityDays: 3650,
        }).source();
  const tlsCheckMs = config.tls.kind === 'files' ? FILE_CHECK_MS : config.tls.checkSeconds * 1000;

  let ready = false;
  let draining = false;
  const ops = await startOpsServer({
    host: config.opsHost,
    port: config.opsPort,
    registry: metrics.registry,
    notReadyReason: () => (draining ? 'draining' : ready ? undefined : 'waiting for the serving certificate'),
  });

  // Wait for the first certificate before listening (vault-k8s): no handshake ever fails for lack of one.
  const first = await tlsSource.load();
  const notAfter = (tls: ProvisionedTls) => certificateLifetime(tls.cert).notAfter;
  log.info({ notAfter: notAfter(first).toISOString() }, 'serving certificate ready');
  metrics.certExpiry.set(notAfter(first).getTime() / 1000);
  // When this webhook makes the namespaces' CA bundle and TLS Secret, it injects only where they exist.
  const readiness = config.reconcile && client ? new NamespaceReadiness(client, log, injection.sidecarTlsSecret) : undefined;
  const recorder = client && config.events ? new OwnerEventRecorder(client, log, metrics) : undefined;
  const admission = await startAdmissionServer({
    host: config.host,
    port: config.port,
    tls: { certPem: first.cert, keyPem: first.key },
    maxBodyBytes: config.maxBodyBytes,
    handler: { config: injection, namespaceReady: readiness ? (namespace, mode) => readiness.isReady(namespace, mode) : undefined },
    metrics,
    log,
    afterAdmission: recorder ? (outcome) => recorder.record(outcome) : undefined,
  });
  const tlsReload = reloadServerTls(
    admission.server,
    tlsSource,
    first,
    (tls) => serverContext({ cert: tls.cert, key: tls.key }),
    {
      onChange(next) {
        const kind = next.rotatedCa ? 'ca' : 'leaf';
        metrics.certExpiry.set(notAfter(next).getTime() / 1000);
        metrics.certRotations.inc({ kind });
        log.info({ kind, notAfter: notAfter(next).toISOString() }, 'serving certificate changed');
      },
      // Half-written files during a rotation, or the API server away: keep serving the current pair.
      onError: (err) => log.warn({ err: errorMessage(err) }, 'cannot load the serving certificate; serving the current one'),
    },
    tlsCheckMs,
  );
  ready = true;
  log.info({ host: config.host, port: admission.port, opsPort: config.opsPort, sidecarStyle, upstream: injection.upstream }, 'webhook listening');

  let lease: LeaderLease | undefined;
  let reconcileTimer: NodeJS.Timeout | undefined;
  let namespaceWatch: { stop(): void } | undefined;
  if (config.reconcile && client && config.issuers) {
    const { serving, client: clientCa } = config.issuers;
    const reconciler = new NamespaceReconciler({
      client,
      issuers: { serving: readPemPair(serving.certFile, serving.keyFile), client: readPemPair(clientCa.certFile, clientCa.keyFile) },
      extraCaPem: config.extraCaFile ? readFileSync(config.extraCaFile, 'utf8') : undefined,
      log,
      metrics,
      sidecarTlsSecret: injection.sidecarTlsSecret,
    });
    lease = new LeaderLease(client, config.systemNamespace, 'cluster-bridge-webhook-reconciler', log);
    const currentLease = lease;
    let running = false;
    let again = false;
    const pass = (): void => {
      if (!currentLease.isLeader()) return;
      if (running) {
        again = true; // a change arrived mid-pass: run once more after it
        return;
      }
      running = true;
      reconciler
        .reconcileAll()
        .then((r) => {
          log.debug(r, 'namespaces reconciled');
          // A namespace just labelled may lack kube-root-ca.crt for a moment: look again soon, not in a poll period.
          if (r.pending > 0) setTimeout(pass, PENDING_RETRY_MS).unref();
        })
        .catch((err: unknown) => {
          metrics.reconciles.inc({ result: 'failed' });
          log.warn({ err: errorMessage(err) }, 'namespace reconcile pass failed');
        })
        .finally(() => {
          running = false;
          if (again) {
            again = false;
            pass();
          }
        });
    };
    // A namespace just labelled is reconciled at once, not after a pass over every other labelled namespace
    // (each may need a new RSA key: seconds apiece), so a pod waiting for its Secret waits for its own only.
    const labelledNow = new Set<string>();
    const reconcileLabelled = (namespace: string): void => {
      if (!currentLease.isLeader() || labelledNow.has(namespace)) return;
      labelledNow.add(namespace);
      reconciler
        .reconcileNamespace(namespace)
        .then((done) => {
          if (!done) setTimeout(pass, PENDING_RETRY_MS).unref();
        })
        .catch((err: unknown) => log.warn({ namespace, err: errorMessage(err) }, 'namespace reconcile failed; the next pass retries it'))
        .finally(() => labelledNow.delete(namespace));
    };
    lease.start((leader) => leader && pass());
    // Label changes start a pass at once (a watch); the periodic pass renews certificates and repairs drift.
    namespaceWatch = listAndWatch(
      client,
      `/api/v1/namespaces?labelSelector=${encodeURIComponent(`${INJECT_LABEL}=${INJECT_LABEL_VALUE}`)}`,
      {
        onList: () => pass(),
        onEvent: (type, namespace: { metadata: { name: string } }) => {
          if (type !== 'DELETED') reconcileLabelled(namespace.metadata.name);
          pass();
        },
      },
      { log },
    );
    reconcileTimer = setInterval(pass, config.reconcileSeconds * 1000);
    reconcileTimer.unref();
  }

  return {
    admission,
    ops,
    injection,
    async stop() {
      draining = true;
      tlsReload.close();
      lease?.stop();
      namespaceWatch?.stop();
      readiness?.stop();
      clearInterval(reconcileTimer);
      await admission.drain();
      await new Promise<void>((resolve) => ops.close(() => resolve()));
      client?.close();
    },
  };
}
