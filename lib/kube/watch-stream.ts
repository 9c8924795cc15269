/**
 * The one reader of kube-apiserver's JSON watch framing: each event is one JSON object on one line
 * (`{"type":"ADDED","object":{...}}\n`), split across chunks anywhere. Three layers, each used on its own:
 * - LineSplitter frames lines whatever the chunk boundaries, and bounds a line's length so a
 *   runaway stream cannot grow a buffer without end (the aggregator's RV rewriter uses only this);
 * - WatchEventDecoder turns lines into typed events, and an ERROR event (410 Gone, say) into a
 *   WatchStreamError with the Status's code;
 * - followWatch reads a response body with them until it ends, fails, falls silent or is stopped, and
 *   never throws: every outcome resolves `ended` (ADR 0017: no component exits on an API server's
 *   error or stall).
 */
import type { Readable } from 'node:stream';
import { BridgeError, errorMessage } from '../errors.js';

/**
 * Longest watch line accepted, in bytes. An object is at most etcd's request limit (1.5 MiB by default)
 * and kube-apiserver refuses request bodies over 3 MiB; 16 MiB leaves room for a raised etcd limit.
 */
export const MAX_WATCH_LINE_BYTES = 16 * 1024 * 1024;

/** Why a watch stream failed: a line over the limit, a stream ended mid-line, a line that is not an event, an ERROR event. */
export type WatchProblem = 'line-too-long' | 'torn-line' | 'not-an-event' | 'error-event';

export class WatchStreamError extends BridgeError {
  constructor(
    readonly problem: WatchProblem,
    message: string,
    /** An ERROR event's Status code (410: the resourceVersion is too old; list again), else the code's own. */
    eventStatus?: number,
  ) {
    super('BRIDGE_ERR_KUBE_API', message, {
      fix: 'the watch is opened again after a fresh list; if it repeats, see the message',
      ...(eventStatus === undefined ? {} : { status: eventStatus }),
    });
    this.name = 'WatchStreamError';
  }
}

/** Frames newline-terminated lines across chunk boundaries, without copying a line that lies within one chunk. */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly maxLineBytes = MAX_WATCH_LINE_BYTES) {}

  /** Calls onLine with each complete line of `chunk` (joined with what earlier chunks left), without its newline. */
  push(chunk: Buffer, onLine: (line: Buffer) => void): void {
    let start = 0;
    for (let newline = chunk.indexOf(0x0a); newline >= 0; newline = chunk.indexOf(0x0a, start)) {
      const part = chunk.subarray(start, newline);
      start = newline + 1;
      if (this.pendingBytes === 0) {
        this.check(part.length);
        onLine(part);
        continue;
      }
      this.check(this.pendingBytes + part.length);
      this.pending.push(part);
      const line = Buffer.concat(this.pending, this.pendingBytes + part.length);
      this.pending = [];
      this.pendingBytes = 0;
      onLine(line);
    }
    if (start < chunk.length) {
      // Checked before it is kept: a line without end grows no buffer past the limit.
      this.check(this.pendingBytes + chunk.length - start);
      this.pending.push(chunk.subarray(start));
      this.pendingBytes += chunk.length - start;
    }
  }

  /** What followed the last newline (empty when the stream ended on one); the splitter is empty afterwards. */
  end(): Buffer {
    const rest = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return rest;
  }

  private check(bytes: number): void {
    if (bytes > this.maxLineBytes) {
      this.pending = [];
      this.pendingBytes = 0;
      throw new WatchStreamError('line-too-long', `watch line longer than ${this.maxLineBytes} bytes`);
    }
  }
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
const EVENT_TYPES: ReadonlySet<string> = new Set<WatchEventType>(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK']);

export interface WatchEvent<T> {
  type: WatchEventType;
  object: T;
}

interface StatusObject {
  code?: number;
  reason?: string;
  message?: string;
}

/** Lines to typed events; blank lines (keep-alives) are skipped. Throws WatchStreamError. */
export class WatchEventDecoder<T> {
  private readonly lines: LineSplitter;

  constructor(maxLineBytes = MAX_WATCH_LINE_BYTES) {
    this.lines = new LineSplitter(maxLineBytes);
  }

  push(chunk: Buffer, onEvent: (event: WatchEvent<T>) => void): void {
    this.lines.push(chunk, (line) => {
      const event = decodeLine<T>(line);
      if (event) onEvent(event);
    });
  }

  /** At the stream's end: a partial line left means the last event was cut off. */
  end(): void {
    const rest = this.lines.end();
    if (rest.toString('utf8').trim()) throw new WatchStreamError('torn-line', `watch ended inside an event (${rest.length} bytes after the last newline)`);
  }
}

function decodeLine<T>(line: Buffer): WatchEvent<T> | undefined {
  const text = line.toString('utf8');
  if (!text.trim()) return undefined;
  let event: { type?: unknown; object?: unknown };
  try {
    event = JSON.parse(text) as typeof event;
  } catch (err) {
    throw new WatchStreamError('not-an-event', `watch line is not JSON: ${errorMessage(err)}`);
  }
  if (event?.type === 'ERROR') {
    const status = (event.object ?? {}) as StatusObject;
    throw new WatchStreamError('error-event', `watch ERROR ${status.code ?? ''} ${status.reason ?? ''}: ${status.message ?? ''}`.trim(), status.code);
  }
  if (typeof event?.type !== 'string' || !EVENT_TYPES.has(event.type) || typeof event.object !== 'object' || event.object === null) {
    throw new WatchStreamError('not-an-event', `watch line is not an event: ${text.slice(0, 100)}`);
  }
  return event as WatchEvent<T>;
}

/**
 * Calls `onSilent` once when `touch()` was not called for `ms` (armed at creation). The watch's
 * owner touches it on every byte or event and clears it when the watch ends.
 */
export function silenceWatchdog(ms: number, onSilent: () => void): { touch(): void; clear(): void } {
  let timer: NodeJS.Timeout | undefined;
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(onSilent, ms);
    timer.unref();
  };
  touch();
  return { touch, clear: () => clearTimeout(timer) };
}

export interface WatchHandle {
  /** Ends the watch: `ended` resolves with `err` (undefined: stopped on purpose). */
  stop(err?: Error): void;
  /** Resolves once, when the watch ended: undefined when the server ended it cleanly or stop() was called without an error. */
  ended: Promise<Error | undefined>;
}

export interface FollowOptions {
  /** No byte for this long ends the watch with an error (a connection dead without a reset). */
  silentMs?: number;
  maxLineBytes?: number;
}

/**
 * Reads watch events from `body` (an answer of 200) and calls onEvent for each. A throw of onEvent,
 * a WatchStreamError, the stream's error, silence or stop() ends the watch and destroys the stream.
 */
export function followWatch<T>(body: Readable, onEvent: (event: WatchEvent<T>) => void, options: FollowOptions = {}): WatchHandle {
  const decoder = new WatchEventDecoder<T>(options.maxLineBytes);
  let settle!: (err: Error | undefined) => void;
  const ended = new Promise<Error | undefined>((resolve) => (settle = resolve));
  let done = false;
  const watchdog =
    options.silentMs === undefined ? undefined : silenceWatchdog(options.silentMs, () => finish(new Error(`watch silent for ${options.silentMs} ms`)));
  const finish = (err: Error | undefined) => {
    if (done) return;
    done = true;
    watchdog?.clear();
    body.off('data', onData);
    if (!body.destroyed) body.destroy();
    settle(err);
  };
  const onData = (chunk: Buffer | string) => {
    watchdog?.touch();
    try {
      decoder.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk, (event) => {
        if (!done) onEvent(event);
      });
    } catch (err) {
      // A bad line or a handler's throw ends this watch (the caller lists again); thrown from here it would end the process.
      finish(err instanceof Error ? err : new Error(errorMessage(err)));
    }
  };
  body.on('data', onData);
  body.on('end', () => {
    try {
      decoder.end();
      finish(undefined);
    } catch (err) {
      finish(err as Error);
    }
  });
  body.on('error', (err) => finish(err));
  body.on('close', () => finish(new Error('watch connection closed before the end of its answer')));
  return { stop: (err) => finish(err), ended };
}
