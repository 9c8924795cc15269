/**
 * A workload that keeps writing one kind while its shard changes owner: it creates an object each
 * round, updates an earlier one every third round and deletes the oldest one the test's informer has
 * seen every fifth (only seen ones: an object created and deleted between two lists is invisible to
 * any informer, even against one cluster). It retries 503s after their Retry-After, as client-go does;
 * any other error is recorded for the test to show. It remembers what was acknowledged: the names
 * created, each one's latest value and the names deleted.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { waitUntil } from '../../lib/wait-until.js';

export interface KindWrites {
  create(name: string, value: string, round: number): Promise<void>;
  update(name: string, value: string): Promise<void>;
  remove(name: string): Promise<void>;
}

/** What a failed call carries, from client-node (`code`, `headers`) or a helper of the test. */
interface CallError {
  code?: number;
  headers?: Record<string, string>;
  message?: string;
}

const RETRY_FOR_MS = 60_000;

async function retrying503(what: string, call: () => Promise<void>, onRetry: () => void): Promise<void> {
  const deadline = Date.now() + RETRY_FOR_MS;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      const { code, headers } = err as CallError;
      // client-node's message goes on with the body and headers: its first line says enough.
      const message = ((err as CallError).message ?? String(err)).split('\n')[0];
      if (code !== 503 || Date.now() > deadline) throw new Error(`${what}: ${code ?? ''} ${message}`);
      onRetry();
      await sleep(Math.min(1000, Number(headers?.['retry-after'] ?? 1) * 1000));
    }
  }
}

export class BackgroundWriter {
  readonly created: string[] = [];
  readonly deleted = new Set<string>();
  /** Each live object's latest acknowledged value. */
  readonly latest = new Map<string, string>();
  readonly errors: string[] = [];
  /** 503s answered (a hand-off holding writes) and retried. */
  retried = 0;
  private round = 0;
  private running?: Promise<void>;
  private stopping = false;
  /** Set by pause(): the loop reports idle, then waits for resume(). */
  private gate?: { idle: () => void; resumed: Promise<void>; resume: () => void };

  constructor(
    private readonly prefix: string,
    private readonly writes: KindWrites,
    private readonly seen: (name: string) => boolean,
  ) {}

  start(): void {
    this.running = this.loop();
  }

  /** Returns once the round in progress is done; nothing is written until resume(). */
  pause(): Promise<void> {
    return new Promise<void>((idle) => {
      let resume = () => {};
      const resumed = new Promise<void>((resolve) => (resume = resolve));
      this.gate = { idle, resumed, resume };
    });
  }

  resume(): void {
    const gate = this.gate;
    this.gate = undefined;
    gate?.resume();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.resume();
    await this.running;
  }

  /** Waits until `count` more creates than now were acknowledged. */
  async moreCreates(count: number): Promise<void> {
    const target = this.created.length + count;
    await waitUntil(`${count} more acknowledged creates of ${this.prefix}`, () => this.created.length >= target, {
      timeoutMs: 90_000,
      abandon: () => (this.errors.length > 0 ? `the writer failed: ${this.errors.join('; ')}` : undefined),
    });
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      const gate = this.gate;
      if (gate) {
        gate.idle();
        await gate.resumed;
        continue;
      }
      await this.oneRound(this.round++).catch((err: Error) => this.errors.push(err.message));
    }
  }

  private readonly onRetry = () => void this.retried++;

  /** `count` creates at once beside the loop's (for a hand-off to hold some of them). */
  async burst(count: number): Promise<void> {
    await Promise.all(Array.from({ length: count }, () => this.createOne(this.round++).catch((err: Error) => void this.errors.push(err.message))));
  }

  private async createOne(round: number): Promise<void> {
    const name = `${this.prefix}-${round}`;
    const value = `v${round}`;
    await retrying503(`create ${name}`, () => this.writes.create(name, value, round), this.onRetry);
    this.created.push(name);
    this.latest.set(name, value);
  }

  private async oneRound(round: number): Promise<void> {
    await this.createOne(round);
    const value = `v${round}`;
    const live = [...this.latest.keys()];
    if (round % 3 === 2 && live.length > 1) {
      const target = live[live.length - 2]!;
      const updated = `${value}-update`;
      await retrying503(`update ${target}`, () => this.writes.update(target, updated), this.onRetry);
      this.latest.set(target, updated);
    }
    const oldestSeen = live.find((n) => this.seen(n));
    if (round % 5 === 4 && oldestSeen) {
      await retrying503(`delete ${oldestSeen}`, () => this.writes.remove(oldestSeen), this.onRetry);
      this.latest.delete(oldestSeen);
      this.deleted.add(oldestSeen);
    }
  }
}
