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
import { classOf, DEFAULT_NAMESPACE_TYPES, isSourcePinned } from '../lib/routing/resource-classes.js';
import { parseShardKey } from '../lib/routing/shard-hash.js';

export const AGGREGATOR_ENV = {
  ...BRIDGE_SERVER_ENV,
  synchronizerUrl: 'BRIDGE_SYNCHRONIZER_URL',
  catchUpTimeoutSeconds: 'BRIDGE_CATCHUP_TIMEOUT_SECONDS',
  unknownTokenReviewsPerSecond: 'BRIDGE_UNKNOWN_TOKEN_REVIEWS_PER_SECOND',
  namespaceTypes: 'BRIDGE_NAMESPACE_TYPES',
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
  /** The types namespace shards carry (docs/adr/0026), written into the routing table at the first namespace hand-off. */
  namespaceTypes: string[];
}

/** BRIDGE_NAMESPACE_TYPES: movable type shard keys, comma-separated; default DEFAULT_NAMESPACE_TYPES. */
function namespaceTypes(env: Env): string[] {
  const raw = env[AGGREGATOR_ENV.namespaceTypes]?.trim();
  const types = [...new Set((raw ? raw.split(',') : DEFAULT_NAMESPACE_TYPES).map((t) => t.trim()).filter(Boolean))];
  for (const type of types) {
    const problem = !/^[a-z0-9-]+(\.[a-z0-9.-]+)?$/.test(type)
      ? 'not a resource type like configmaps or deployments.apps'
      : isSourcePinned(type) || classOf(parseShardKey(type)) !== 'movable'
        ? 'not a type that moves'
        : undefined;
    if (problem)
      throw new BridgeError('BRIDGE_ERR_CONFIG', `${AGGREGATOR_ENV.namespaceTypes} has "${type}": ${problem}`, {
        fix: `set ${AGGREGATOR_ENV.namespaceTypes} to a comma-separated list of movable namespaced types`,
      });
  }
  return types;
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
    namespaceTypes: namespaceTypes(env),
    ...leaseTiming(env, AGGREGATOR_ENV.leaseDurationSeconds),
  };
}
