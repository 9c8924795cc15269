/**
 * The aggregator's side of the hand-off contract (lib/mirror/catchup.ts): asks the synchronizer over HTTPS
 * with the bridge CA's mTLS whether the other side has caught up, waiting up to a deadline.
 */
import { Agent, request } from 'node:https';
import type { CatchUp, CatchUpQuery, CatchUpStatus } from './catchup.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { BridgeError, errorMessage } from '../errors.js';

export interface CatchUpClientOptions {
  /** https://host:port of the synchronizer's API. */
  url: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** A replaced agent's connections are closed this long after: longer than any question waits (the server caps it at 120 s). */
const RETIRE_AGENT_MS = 135_000;

const newAgent = (o: Omit<CatchUpClientOptions, 'url'>) => new Agent({ keepAlive: true, ca: o.caPem, cert: o.certPem, key: o.keyPem });

/** How soon a standby's answer is asked again (the synchronizer sends Retry-After: 1). */
const STANDBY_RETRY_MS = 1000;

/** 503: the replica asked is not the leader (or not ready); the leader may answer soon. */
interface StandingBy {
  standingBy: true;
  message: string;
}

function standingByError(message: string): BridgeError {
  return new BridgeError('BRIDGE_ERR_HANDOFF_TIMEOUT', `the synchronizer answered HTTP 503: ${message}`, {
    fix: 'check that one synchronizer replica leads (its Lease) and read its log',
  });
}

export class CatchUpClient implements CatchUp {
  private agent: Agent;
  private readonly base: URL;

  constructor(options: CatchUpClientOptions) {
    this.base = new URL(options.url);
    this.agent = newAgent(options);
  }

  /** New questions go out with renewed files; one still waiting finishes on its connection (at most MAX wait + slack). */
  useCredentials(credentials: Omit<CatchUpClientOptions, 'url'>): void {
    const old = this.agent;
    this.agent = newAgent(credentials);
    setTimeout(() => old.destroy(), RETIRE_AGENT_MS).unref();
  }

  async status(query: CatchUpQuery): Promise<CatchUpStatus> {
    const answer = await this.ask(query, 0);
    if ('standingBy' in answer) throw standingByError(answer.message);
    return answer;
  }

  /** Asks until caught up or the deadline; a standby replica's answer (503) is asked again until then. */
  async waitFor(query: CatchUpQuery, timeoutMs: number): Promise<CatchUpStatus> {
    const deadline = Date.now() + timeoutMs;
    let answer = await this.ask(query, Math.max(1, Math.ceil(timeoutMs / 1000)));
    while ('standingBy' in answer) {
      const left = deadline - Date.now();
      if (left <= STANDBY_RETRY_MS) throw standingByError(answer.message);
      await sleep(STANDBY_RETRY_MS);
      answer = await this.ask(query, Math.max(1, Math.ceil((left - STANDBY_RETRY_MS) / 1000)));
    }
    const status = answer;
    if (!status.caughtUp && status.failing) {
      const { count, example, lastError } = status.failing;
      throw new BridgeError(
        'BRIDGE_ERR_HANDOFF_TIMEOUT',
        `shard ${query.shard}: ${count} object(s) of the ${query.from} cannot be written to the other side (${example} among them${lastError ? `; the last error: ${lastError}` : ''})`,
        { fix: 'make the other cluster accept them (its quotas, policies, namespaces); `bridgectl sync status` lists the errors; the hand-off is retried' },
      );
    }
    if (!status.caughtUp) {
      throw new BridgeError(
        'BRIDGE_ERR_HANDOFF_TIMEOUT',
        `shard ${query.shard}: the other side reached ${query.from} RV ${status.syncedRV}, not ${query.rv}, within ${timeoutMs} ms`,
      );
    }
    return status;
  }

  /** `retried`: a kept-alive connection the synchronizer closed as this question went out is asked again once, on a new one. */
  private ask(query: CatchUpQuery, timeoutSeconds: number, retried = false): Promise<CatchUpStatus | StandingBy> {
    const url = new URL('/v1/catchup', this.base);
    url.search = new URLSearchParams({ shard: query.shard, from: query.from, rv: query.rv, timeoutSeconds: String(timeoutSeconds) }).toString();
    return new Promise((resolve, reject) => {
      const req = request(url, { agent: this.agent, timeout: (timeoutSeconds + 10) * 1000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 503) return resolve({ standingBy: true, message: text.slice(0, 200) });
          if (res.statusCode !== 200)
            return reject(
              new BridgeError('BRIDGE_ERR_HANDOFF_TIMEOUT', `the synchronizer answered HTTP ${res.statusCode}: ${text.slice(0, 200)}`, {
                fix: 'read the synchronizer log',
              }),
            );
          try {
            resolve(JSON.parse(text) as CatchUpStatus);
          } catch (err) {
            reject(new BridgeError('BRIDGE_ERR_HANDOFF_TIMEOUT', `the synchronizer's answer is not JSON: ${errorMessage(err)}`));
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err: NodeJS.ErrnoException) => {
        // Node's documented race: the server closes an idle kept-alive socket just as a request reuses it.
        if (!retried && req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) return resolve(this.ask(query, timeoutSeconds, true));
        reject(
          new BridgeError('BRIDGE_ERR_UPSTREAM_UNREACHABLE', `cannot reach the synchronizer at ${this.base.origin}: ${errorMessage(err)}`, {
            fix: 'check the synchronizer is running and --synchronizer-url',
            cause: err,
          }),
        );
      });
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
