/**
 * The aggregator's side of the hand-off contract (lib/catchup.ts): asks the synchronizer over HTTPS
 * with the bridge CA's mTLS whether the other side has caught up, waiting up to a deadline.
 */
import { Agent, request } from 'node:https';
import type { CatchUp, CatchUpQuery, CatchUpStatus } from './catchup.js';
import { BridgeError, errorMessage } from './errors.js';

export interface CatchUpClientOptions {
  /** https://host:port of the synchronizer's API. */
  url: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

export class CatchUpClient implements CatchUp {
  private readonly agent: Agent;
  private readonly base: URL;

  constructor(options: CatchUpClientOptions) {
    this.base = new URL(options.url);
    this.agent = new Agent({ keepAlive: true, ca: options.caPem, cert: options.certPem, key: options.keyPem });
  }

  status(query: CatchUpQuery): Promise<CatchUpStatus> {
    return this.ask(query, 0);
  }

  async waitFor(query: CatchUpQuery, timeoutMs: number): Promise<CatchUpStatus> {
    const status = await this.ask(query, Math.max(1, Math.ceil(timeoutMs / 1000)));
    if (!status.caughtUp) {
      throw new BridgeError(
        'BRIDGE_ERR_HANDOFF_TIMEOUT',
        `shard ${query.shard}: the other side reached ${query.from} RV ${status.syncedRV}, not ${query.rv}, within ${timeoutMs} ms`,
      );
    }
    return status;
  }

  private ask(query: CatchUpQuery, timeoutSeconds: number): Promise<CatchUpStatus> {
    const url = new URL('/v1/catchup', this.base);
    url.search = new URLSearchParams({ shard: query.shard, from: query.from, rv: query.rv, timeoutSeconds: String(timeoutSeconds) }).toString();
    return new Promise((resolve, reject) => {
      const req = request(url, { agent: this.agent, timeout: (timeoutSeconds + 10) * 1000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
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
      req.on('error', (err) =>
        reject(
          new BridgeError('BRIDGE_ERR_UPSTREAM_UNREACHABLE', `cannot reach the synchronizer at ${this.base.origin}: ${errorMessage(err)}`, {
            fix: 'check the synchronizer is running and --synchronizer-url',
            cause: err,
          }),
        ),
      );
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
