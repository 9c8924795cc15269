/**
 * Keep-alive TLS connection pools to the two possible backends: the upstream (aggregator, mTLS with
 * the sidecar's client certificate) and the local source API server (verified against the cluster
 * CA; the workload's own token authenticates). A certificate rotation swaps in a fresh pool; requests
 * already running on the old one finish there, and the old pool is destroyed when the last one ends.
 */
import { Agent, type AgentOptions } from 'node:https';
import type { Socket } from 'node:net';
import { createSecureContext, type ConnectionOptions } from 'node:tls';
import type { Endpoint } from './config.js';
import type { TlsMaterial } from '../lib/tls/certificate-source.js';

export type BackendName = 'upstream' | 'local';

export interface Backend {
  name: BackendName;
  endpoint: Endpoint;
  agent: Agent;
  /** TLS options for a bare handshake (the breaker's probe). */
  tls: ConnectionOptions;
  /**
   * Set when the sidecar presents a client certificate here. Under TLS 1.3 the server judges it only
   * after the client's handshake is done, so a new connection waits for the server's first session
   * ticket (sent once it accepted the certificate) before the request goes out (backend-attempt.ts).
   */
  clientCertificate?: ClientCertificateAcceptance;
}

export interface ClientCertificateAcceptance {
  /** Cleared once a connection saw no ticket in time: this server sends none, so waiting only costs. */
  serverSendsTickets: boolean;
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
  private local: Backend | undefined;
  /** Pools replaced by a rotation that still carry requests; each is destroyed when its last one ends. */
  private readonly retired = new Set<Agent>();

  constructor(upstream: Endpoint, material: TlsMaterial, local?: { endpoint: Endpoint; caPem: string }) {
    this.upstreamBackend = this.makeUpstream(upstream, material);
    if (local) this.local = makeLocal(local.endpoint, local.caPem);
  }

  private makeUpstream(endpoint: Endpoint, material: TlsMaterial): Backend {
    const tls = tlsOptions(endpoint, {
      ...(material.ca ? { ca: material.ca } : {}),
      ...(material.client ? { cert: material.client.cert, key: material.client.key } : {}),
    });
    const clientCertificate = material.client ? { serverSendsTickets: true } : undefined;
    return { name: 'upstream', endpoint, agent: agentFor(tls), tls, clientCertificate };
  }

  get upstream(): Backend {
    return this.upstreamBackend;
  }

  get localBackend(): Backend | undefined {
    return this.local;
  }

  /** New client certificate or CA: new requests use a new pool; the old one drains, then goes. */
  rotate(material: TlsMaterial): void {
    const old = this.upstreamBackend;
    this.upstreamBackend = this.makeUpstream(old.endpoint, material);
    this.retire(old.agent);
  }

  /** The local API server's CA changed (BRIDGE_LOCAL_CA_FILE): the same, for the local pool. */
  rotateLocalCa(caPem: string): void {
    const old = this.local;
    if (!old) return;
    this.local = makeLocal(old.endpoint, caPem);
    this.retire(old.agent);
  }

  /** Pools replaced by rotations and still draining (0 once their requests ended). */
  get retiredPools(): number {
    return this.retired.size;
  }

  private retire(agent: Agent): void {
    for (const sockets of Object.values(agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
    // A request that ends on the old pool must not leave its socket there for reuse.
    agent.on('free', (socket: Socket) => socket.destroy());
    const busy = Object.values(agent.sockets).flatMap((sockets) => sockets ?? []);
    if (busy.length === 0) return agent.destroy();
    this.retired.add(agent);
    let open = busy.length;
    for (const socket of busy) {
      socket.once('close', () => {
        if (--open > 0) return;
        agent.destroy();
        this.retired.delete(agent);
      });
    }
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
      upstream: count(this.upstreamBackend.agent) + [...this.retired].reduce((n, a) => n + count(a), 0),
      local: count(this.local?.agent),
    };
  }

  destroy(): void {
    this.upstreamBackend.agent.destroy();
    this.local?.agent.destroy();
    for (const agent of this.retired) agent.destroy();
    this.retired.clear();
  }
}

function makeLocal(endpoint: Endpoint, caPem: string): Backend {
  const tls = tlsOptions(endpoint, { ca: caPem });
  return { name: 'local', endpoint, agent: agentFor(tls), tls };
}
