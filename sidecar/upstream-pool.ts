/**
 * Keep-alive TLS connection pools to the two possible backends: the upstream (aggregator, mTLS with
 * the sidecar's client certificate) and the local source API server (verified against the cluster
 * CA; the workload's own token authenticates). A certificate rotation swaps in a fresh upstream pool;
 * requests already running on the old one finish there, and its idle sockets time out.
 */
import { Agent, type AgentOptions } from 'node:https';
import { createSecureContext, type ConnectionOptions } from 'node:tls';
import type { Endpoint } from './config.js';
import type { TlsMaterial } from './tls-material.js';

export type BackendName = 'upstream' | 'local';

export interface Backend {
  name: BackendName;
  endpoint: Endpoint;
  agent: Agent;
  /** TLS options for a bare handshake (the breaker's probe). */
  tls: ConnectionOptions;
}

/** Idle keep-alive sockets close after this; busy ones (watches, logs) are never timed out. */
const IDLE_SOCKET_MS = 60_000;

/**
 * Certificates go in as one SecureContext built here, not as `ca`/`cert`/`key` strings: https.Agent
 * folds those PEM strings into its pool key on every request, and tls.connect parses them again for
 * every new connection. The context is built once per pool (and per rotation).
 */
function tlsOptions(endpoint: Endpoint, pems: { ca?: string; cert?: string; key?: string }): ConnectionOptions {
  return { host: endpoint.host, port: endpoint.port, secureContext: createSecureContext(pems) };
}

function agentFor(tls: ConnectionOptions): Agent {
  const options: AgentOptions = {
    keepAlive: true,
    keepAliveMsecs: 15_000,
    // Only idle pooled sockets are destroyed on this timeout; an active request merely gets a
    // 'timeout' event, which the forwarder ignores, so watches and exec streams are never cut.
    timeout: IDLE_SOCKET_MS,
    // After a burst, keep the sockets it opened (until IDLE_SOCKET_MS) instead of closing all but a
    // few: with 64, a burst at 1,000 requests/s re-opened ~1,200 TLS connections in the benchmark (each
    // a handshake, ~1 ms of CPU), with 256 it opened ~150.
    maxFreeSockets: 256,
    scheduling: 'lifo',
    ...tls,
  };
  return new Agent(options);
}

export class UpstreamPool {
  private upstreamBackend: Backend;
  readonly localBackend: Backend | undefined;
  private readonly retired: Agent[] = [];

  constructor(upstream: Endpoint, material: TlsMaterial, local?: { endpoint: Endpoint; caPem: string }) {
    this.upstreamBackend = this.makeUpstream(upstream, material);
    if (local) {
      const tls = tlsOptions(local.endpoint, { ca: local.caPem });
      this.localBackend = { name: 'local', endpoint: local.endpoint, agent: agentFor(tls), tls };
    }
  }

  private makeUpstream(endpoint: Endpoint, material: TlsMaterial): Backend {
    const tls = tlsOptions(endpoint, {
      ...(material.upstreamCaPem ? { ca: material.upstreamCaPem } : {}),
      ...(material.clientCertPem ? { cert: material.clientCertPem, key: material.clientKeyPem } : {}),
    });
    return { name: 'upstream', endpoint, agent: agentFor(tls), tls };
  }

  get upstream(): Backend {
    return this.upstreamBackend;
  }

  /** New client certificate or CA: new requests use a new pool; the old one drains on its own. */
  rotate(material: TlsMaterial): void {
    const old = this.upstreamBackend;
    this.upstreamBackend = this.makeUpstream(old.endpoint, material);
    for (const sockets of Object.values(old.agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
    this.retired.push(old.agent);
  }

  /** Sockets open to each backend (busy + idle), for metrics and the leak test. */
  socketCounts(): { upstream: number; local: number } {
    const count = (agent: Agent | undefined) => {
      if (!agent) return 0;
      let n = 0;
      for (const list of Object.values(agent.sockets)) n += list?.length ?? 0;
      for (const list of Object.values(agent.freeSockets)) n += list?.length ?? 0;
      return n;
    };
    return {
      upstream: count(this.upstreamBackend.agent) + this.retired.reduce((n, a) => n + count(a), 0),
      local: count(this.localBackend?.agent),
    };
  }

  destroy(): void {
    this.upstreamBackend.agent.destroy();
    this.localBackend?.agent.destroy();
    for (const agent of this.retired) agent.destroy();
  }
}
