/**
 * The aggregator's configuration: BRIDGE_* variables (flags of `bridgectl aggregator serve` derived
 * from the same map), validated at start with a message naming the field.
 */
import { join } from 'node:path';
import { existingFile, kubeconfigSetting, leaseTiming, optionalString, portNumber, positiveNumber, requiredString, type Env } from '../lib/process/config.js';
import { BridgeError } from '../lib/errors.js';
import { BRIDGE_SERVER_ENV } from '../lib/process/env-flags.js';
import { AGGREGATOR_OPS_PORT, AGGREGATOR_PORT } from '../lib/names.js';
import { DEFAULT_BUDGET } from './identity/review-budget.js';

export const AGGREGATOR_ENV = {
  ...BRIDGE_SERVER_ENV,
  synchronizerUrl: 'BRIDGE_SYNCHRONIZER_URL',
  catchUpTimeoutSeconds: 'BRIDGE_CATCHUP_TIMEOUT_SECONDS',
  unknownTokenReviewsPerSecond: 'BRIDGE_UNKNOWN_TOKEN_REVIEWS_PER_SECOND',
} as const;

export interface AggregatorConfig {
  listenHost: string;
  /** 0 picks a free port (tests). */
  listenPort: number;
  opsHost: string;
  opsPort: number;
  /** tls.crt/tls.key (serving), ca.crt (the bridge CA: verifies sidecar client certificates), client.crt/client.key (mTLS to the synchronizer). */
  tls: { certFile: string; keyFile: string; caFile: string; clientCertFile?: string; clientKeyFile?: string };
  /** A kubeconfig file, or IN_CLUSTER (lib/process/config.ts): the pod's ServiceAccount. */
  sourceKubeconfig: string;
  destinationKubeconfig: string;
  /** The synchronizer's catch-up API; without it hand-offs are refused. */
  synchronizerUrl: string | undefined;
  catchUpTimeoutMs: number;
  /** The leader runs hand-offs and the rollout controller; a standby takes over this long after it stops renewing. */
  leaseDurationSeconds: number;
  leaseRenewSeconds: number;
  /** TokenReviews (and anonymous probes) one client address may cost the source per second (review-budget.ts). */
  unknownTokenReviewsPerSecond: number;
}

export function loadAggregatorConfig(env: Env): AggregatorConfig {
  const tlsDir = requiredString(env, AGGREGATOR_ENV.tlsDir);
  const tlsFile = (name: string) => existingFile({ [AGGREGATOR_ENV.tlsDir]: join(tlsDir, name) }, AGGREGATOR_ENV.tlsDir);
  const synchronizerUrl = env[AGGREGATOR_ENV.synchronizerUrl]?.trim() || undefined;
  if (synchronizerUrl && !/^https:\/\/[^/\s]+(:\d+)?\/?$/.test(synchronizerUrl)) {
    throw new BridgeError('BRIDGE_ERR_CONFIG', `${AGGREGATOR_ENV.synchronizerUrl} must be https://host:port, got "${synchronizerUrl}"`, {
      fix: `set ${AGGREGATOR_ENV.synchronizerUrl} correctly and restart`,
    });
  }
  const hasClient = synchronizerUrl !== undefined;
  return {
    listenHost: optionalString(env, AGGREGATOR_ENV.listenHost, '0.0.0.0'),
    listenPort: portNumber(env, AGGREGATOR_ENV.listenPort, AGGREGATOR_PORT),
    opsHost: optionalString(env, AGGREGATOR_ENV.opsHost, '0.0.0.0'),
    opsPort: portNumber(env, AGGREGATOR_ENV.opsPort, AGGREGATOR_OPS_PORT),
    tls: {
      certFile: tlsFile('tls.crt'),
      keyFile: tlsFile('tls.key'),
      caFile: tlsFile('ca.crt'),
      ...(hasClient ? { clientCertFile: tlsFile('client.crt'), clientKeyFile: tlsFile('client.key') } : {}),
    },
    sourceKubeconfig: kubeconfigSetting(env, AGGREGATOR_ENV.sourceKubeconfig),
    destinationKubeconfig: kubeconfigSetting(env, AGGREGATOR_ENV.destinationKubeconfig),
    synchronizerUrl,
    catchUpTimeoutMs: positiveNumber(env, AGGREGATOR_ENV.catchUpTimeoutSeconds, 30) * 1000,
    unknownTokenReviewsPerSecond: positiveNumber(env, AGGREGATOR_ENV.unknownTokenReviewsPerSecond, DEFAULT_BUDGET.perPeerPerSecond),
    ...leaseTiming(env, AGGREGATOR_ENV.leaseDurationSeconds),
  };
}
