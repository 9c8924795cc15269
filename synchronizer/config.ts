/** The synchronizer's configuration: BRIDGE_* variables, flags derived from the same map (lib/process/env-flags.ts). */
import { join } from 'node:path';
import { existingFile, kubeconfigSetting, leaseTiming, optionalString, portNumber, requiredString, type Env } from '../lib/process/config.js';
import { BridgeError } from '../lib/errors.js';
import { BRIDGE_SERVER_ENV } from '../lib/process/env-flags.js';
import { SYNCHRONIZER_LEASE, SYNCHRONIZER_OPS_PORT, SYNCHRONIZER_PORT } from '../lib/names.js';
import { classOf, DEFAULT_SHARDS, isSourcePinned } from '../lib/routing/resource-classes.js';
import { parseShardKey } from '../lib/routing/shard-hash.js';

export const SYNC_ENV = {
  ...BRIDGE_SERVER_ENV,
  shards: 'BRIDGE_SHARDS',
  destinationTokenSecret: 'BRIDGE_DESTINATION_TOKEN_SECRET',
} as const;

/** How long each renewed destination token lives (synchronizer/destination-token.ts renews it halfway). */
export const DESTINATION_TOKEN_SECONDS = 86_400;

export interface SyncConfig {
  listenHost: string;
  listenPort: number;
  opsHost: string;
  opsPort: number;
  /** tls.crt/tls.key serve the catch-up API; ca.crt (the bridge CA) verifies the aggregator's client certificate. */
  tls: { certFile: string; keyFile: string; caFile: string };
  /** A kubeconfig file, or IN_CLUSTER (lib/process/config.ts): the pod's ServiceAccount. */
  sourceKubeconfig: string;
  destinationKubeconfig: string;
  shards: string[];
  /** How long a leader that stopped renewing keeps the Lease from a standby (client-go's LeaseDuration). */
  leaseDurationSeconds: number;
  /** How often the leader renews: a third of the duration. */
  leaseRenewSeconds: number;
  /** The Secret on the source (namespace/name, key `token`) the destination kubeconfig's tokenFile reads, kept current by renewal; unset: no renewal. */
  destinationTokenSecret?: { namespace: string; name: string };
  /** The Lease in the destination's system namespace (SYNCHRONIZER_LEASE; tests running two bridges on one lab set their own). */
  leaseName: string;
}

function parseShardList(raw: string | undefined): string[] {
  const shards = (raw?.trim() ? raw.split(',') : DEFAULT_SHARDS).map((s) => s.trim()).filter(Boolean);
  for (const shard of shards) {
    if (!/^[a-z0-9-]+(\.[a-z0-9.-]+)?$/.test(shard)) {
      throw new BridgeError('BRIDGE_ERR_CONFIG', `${SYNC_ENV.shards} has "${shard}", not a resource type like configmaps or deployments.apps`, {
        fix: `set ${SYNC_ENV.shards} to a comma-separated list of shards`,
      });
    }
    if (isSourcePinned(shard)) {
      throw new BridgeError(
        'BRIDGE_ERR_CONFIG',
        `${SYNC_ENV.shards} has "${shard}", which is always mirrored, source -> destination, and never moved (docs/adr/0013)`,
        {
          fix: `remove ${shard} from ${SYNC_ENV.shards}`,
        },
      );
    }
    if (classOf(parseShardKey(shard)) !== 'movable') {
      throw new BridgeError(
        'BRIDGE_ERR_CONFIG',
        `${SYNC_ENV.shards} has "${shard}", which is ${classOf(parseShardKey(shard))}, not movable: it is never mirrored`,
        { fix: `remove ${shard} from ${SYNC_ENV.shards}` },
      );
    }
  }
  return [...new Set(shards)];
}

export function loadSyncConfig(env: Env): SyncConfig {
  const tlsDir = requiredString(env, SYNC_ENV.tlsDir);
  const tlsFile = (name: string) => existingFile({ [SYNC_ENV.tlsDir]: join(tlsDir, name) }, SYNC_ENV.tlsDir);
  return {
    listenHost: optionalString(env, SYNC_ENV.listenHost, '0.0.0.0'),
    listenPort: portNumber(env, SYNC_ENV.listenPort, SYNCHRONIZER_PORT),
    opsHost: optionalString(env, SYNC_ENV.opsHost, '0.0.0.0'),
    opsPort: portNumber(env, SYNC_ENV.opsPort, SYNCHRONIZER_OPS_PORT),
    tls: { certFile: tlsFile('tls.crt'), keyFile: tlsFile('tls.key'), caFile: tlsFile('ca.crt') },
    sourceKubeconfig: kubeconfigSetting(env, SYNC_ENV.sourceKubeconfig),
    destinationKubeconfig: kubeconfigSetting(env, SYNC_ENV.destinationKubeconfig),
    shards: parseShardList(env[SYNC_ENV.shards]),
    ...leaseTiming(env, SYNC_ENV.leaseDurationSeconds),
    leaseName: SYNCHRONIZER_LEASE,
    ...destinationTokenSecret(env[SYNC_ENV.destinationTokenSecret]),
  };
}

function destinationTokenSecret(raw: string | undefined): Pick<SyncConfig, 'destinationTokenSecret'> {
  if (!raw?.trim()) return {};
  const match = /^([a-z0-9][a-z0-9-]*)\/([a-z0-9][a-z0-9.-]*)$/.exec(raw.trim());
  if (!match)
    throw new BridgeError('BRIDGE_ERR_CONFIG', `${SYNC_ENV.destinationTokenSecret} must be namespace/name of a Secret, got "${raw}"`, {
      fix: `set ${SYNC_ENV.destinationTokenSecret}=cluster-bridge-system/cluster-bridge-destination-kubeconfig or leave it unset`,
    });
  return { destinationTokenSecret: { namespace: match[1]!, name: match[2]! } };
}
