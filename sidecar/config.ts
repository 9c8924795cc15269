/**
 * The sidecar's configuration, from the environment (the contract names in DESIGN.md section 6) with
 * command-line flags layered on top by `bridgectl sidecar serve`. Everything is validated at start:
 * a bad value fails with BRIDGE_ERR_CONFIG naming the field.
 */
import { existsSync } from 'node:fs';
import { BridgeError } from '../lib/errors.js';
import { hostPort, oneOf, optionalString, portNumber, positiveNumber, type Env } from '../lib/process/config.js';
import { FAIL_MODES, SIDECAR_HOST, SIDECAR_OPS_PORT, SIDECAR_PORT, SIDECAR_TLS_DIR, type FailMode } from '../lib/names.js';

export const SIDECAR_DEFAULTS = {
  listenHost: SIDECAR_HOST,
  listenPort: SIDECAR_PORT,
  opsHost: SIDECAR_HOST,
  opsPort: SIDECAR_OPS_PORT,
  tlsDir: SIDECAR_TLS_DIR,
  localCaFile: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
  connectTimeoutMs: 3000,
  shutdownGraceSeconds: 20,
  breakerFailureThreshold: 3,
  routingTableMaxAgeSeconds: 10,
  localWriteMaxBytes: 1024 * 1024,
} as const;

export const LOCAL_ROUTING_MODES = ['on', 'off'] as const;

export interface Endpoint {
  host: string;
  port: number;
}

export interface SidecarConfig {
  listenHost: string;
  /** 0 picks a free port (tests). */
  listenPort: number;
  opsHost: string;
  opsPort: number;
  /** BRIDGE_UPSTREAM: the aggregator. */
  upstream: Endpoint;
  /** BRIDGE_LOCAL_APISERVER: the source API server the pod would have used; required in fail mode local. */
  localApiserver: Endpoint | undefined;
  /** CA bundle that verifies the local API server (the cluster CA). */
  localCaFile: string;
  failMode: FailMode;
  /** tls.crt/tls.key (loopback serving cert), optional client.crt/client.key (mTLS upstream) and ca.crt (verifies upstream). */
  tlsDir: string;
  pod: { name?: string; namespace?: string; node?: string };
  connectTimeoutMs: number;
  shutdownGraceMs: number;
  /** Consecutive connect failures that open the circuit breaker. */
  breakerFailureThreshold: number;
  /**
   * Local routing (docs/adr/0011): requests the source serves unchanged go straight to localApiserver,
   * by the routing table fetched from the upstream. Default: on when localApiserver is set.
   */
  localRouting: boolean;
  /** Beyond this age the routing table is not routed by: everything goes to the upstream. */
  routingTableMaxAgeMs: number;
  /** Local writes to a shard are buffered up to this size (for a fenced retry); larger ones go to the upstream. */
  localWriteMaxBytes: number;
}

/** Environment variable per setting; flags of `bridgectl sidecar serve` map onto these names. */
export const SIDECAR_ENV = {
  listenHost: 'BRIDGE_LISTEN_HOST',
  listenPort: 'BRIDGE_LISTEN_PORT',
  opsHost: 'BRIDGE_OPS_HOST',
  opsPort: 'BRIDGE_OPS_PORT',
  upstream: 'BRIDGE_UPSTREAM',
  localApiserver: 'BRIDGE_LOCAL_APISERVER',
  localCaFile: 'BRIDGE_LOCAL_CA_FILE',
  failMode: 'BRIDGE_FAIL_MODE',
  tlsDir: 'BRIDGE_TLS_DIR',
  podName: 'BRIDGE_POD_NAME',
  podNamespace: 'BRIDGE_POD_NAMESPACE',
  nodeName: 'BRIDGE_NODE_NAME',
  connectTimeoutMs: 'BRIDGE_CONNECT_TIMEOUT_MS',
  shutdownGraceSeconds: 'BRIDGE_SHUTDOWN_GRACE_SECONDS',
  breakerFailureThreshold: 'BRIDGE_BREAKER_FAILURE_THRESHOLD',
  localRouting: 'BRIDGE_LOCAL_ROUTING',
  routingTableMaxAgeSeconds: 'BRIDGE_ROUTING_TABLE_MAX_AGE_SECONDS',
  localWriteMaxBytes: 'BRIDGE_LOCAL_WRITE_MAX_BYTES',
} as const;

function configError(field: string, problem: string): BridgeError {
  return new BridgeError('BRIDGE_ERR_CONFIG', `${field} ${problem}`, { fix: `set ${field} correctly and restart` });
}

function upstreamEndpoint(env: Env): Endpoint {
  const raw = env[SIDECAR_ENV.upstream]?.trim() ?? '';
  if (raw && !raw.startsWith('https://')) throw configError(SIDECAR_ENV.upstream, `must be https://host:port (TLS only), got "${raw}"`);
  return hostPort(env, SIDECAR_ENV.upstream)!;
}

function wholeNumber(env: Env, field: string, fallback: number): number {
  const value = positiveNumber(env, field, fallback);
  if (!Number.isInteger(value)) throw configError(field, `must be a whole number, got "${value}"`);
  return value;
}

/** On by default wherever there is a local API server to route to; `on` without one is a mistake. */
function localRoutingSetting(env: Env, localApiserver: Endpoint | undefined): boolean {
  const mode = oneOf(env, SIDECAR_ENV.localRouting, LOCAL_ROUTING_MODES, localApiserver ? 'on' : 'off');
  if (mode === 'on' && !localApiserver)
    throw configError(SIDECAR_ENV.localRouting, `is on but ${SIDECAR_ENV.localApiserver} is not set (where would it route?)`);
  return mode === 'on';
}

export function loadSidecarConfig(env: Env): SidecarConfig {
  const upstream = upstreamEndpoint(env);
  const failMode = oneOf(env, SIDECAR_ENV.failMode, FAIL_MODES, 'local');
  const localApiserver = hostPort(env, SIDECAR_ENV.localApiserver, failMode === 'local');
  const localCaFile = optionalString(env, SIDECAR_ENV.localCaFile, SIDECAR_DEFAULTS.localCaFile);
  if (localApiserver && !existsSync(localCaFile)) {
    throw configError(SIDECAR_ENV.localCaFile, `names a file that does not exist: ${localCaFile} (the CA that verifies ${SIDECAR_ENV.localApiserver})`);
  }
  const tlsDir = optionalString(env, SIDECAR_ENV.tlsDir, SIDECAR_DEFAULTS.tlsDir);
  const threshold = wholeNumber(env, SIDECAR_ENV.breakerFailureThreshold, SIDECAR_DEFAULTS.breakerFailureThreshold);
  const pod = {
    name: env[SIDECAR_ENV.podName]?.trim() || undefined,
    namespace: env[SIDECAR_ENV.podNamespace]?.trim() || undefined,
    node: env[SIDECAR_ENV.nodeName]?.trim() || undefined,
  };
  return {
    listenHost: optionalString(env, SIDECAR_ENV.listenHost, SIDECAR_DEFAULTS.listenHost),
    listenPort: portNumber(env, SIDECAR_ENV.listenPort, SIDECAR_DEFAULTS.listenPort),
    opsHost: optionalString(env, SIDECAR_ENV.opsHost, SIDECAR_DEFAULTS.opsHost),
    opsPort: portNumber(env, SIDECAR_ENV.opsPort, SIDECAR_DEFAULTS.opsPort),
    upstream,
    localApiserver,
    localCaFile,
    failMode,
    tlsDir,
    pod,
    connectTimeoutMs: positiveNumber(env, SIDECAR_ENV.connectTimeoutMs, SIDECAR_DEFAULTS.connectTimeoutMs),
    shutdownGraceMs: positiveNumber(env, SIDECAR_ENV.shutdownGraceSeconds, SIDECAR_DEFAULTS.shutdownGraceSeconds) * 1000,
    breakerFailureThreshold: threshold,
    localRouting: localRoutingSetting(env, localApiserver),
    routingTableMaxAgeMs: positiveNumber(env, SIDECAR_ENV.routingTableMaxAgeSeconds, SIDECAR_DEFAULTS.routingTableMaxAgeSeconds) * 1000,
    localWriteMaxBytes: wholeNumber(env, SIDECAR_ENV.localWriteMaxBytes, SIDECAR_DEFAULTS.localWriteMaxBytes),
  };
}
