/**
 * Rewrites the resourceVersions of a JSON watch stream (kube-apiserver frames each event as one JSON
 * object followed by a newline) as it flows, whatever the chunk boundaries, so watches of a moved
 * shard present the shard's RVs without buffering more than one event. Each event's objects then
 * show the original's identity (object-identity.ts) unless `presentIdentity` is false, and are written
 * as kube-apiserver writes JSON (lib/go-json.ts).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { goJsonBody } from '../go-json.js';
import { presentOriginalIdentity } from './object-identity.js';
import { parseJsonExact, rewriteObjectRVs } from './resource-version.js';

export class WatchRVRewriter extends Transform {
  private pending: Buffer[] = [];

  constructor(
    private readonly mapRV: (rv: string) => string,
    private readonly presentIdentity = true,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let start = 0;
    for (let newline = chunk.indexOf(0x0a); newline >= 0; newline = chunk.indexOf(0x0a, start)) {
      this.pending.push(chunk.subarray(start, newline));
      this.emitEvent(Buffer.concat(this.pending));
      this.pending = [];
      start = newline + 1;
    }
    if (start < chunk.length) this.pending.push(chunk.subarray(start));
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.pending.length > 0) this.emitEvent(Buffer.concat(this.pending));
    this.pending = [];
    done();
  }

  private emitEvent(line: Buffer): void {
    if (line.length === 0) return;
    let event: unknown;
    try {
      event = parseJsonExact(line.toString('utf8'));
    } catch {
      // Not JSON (never sent by kube-apiserver): pass it on rather than lose it.
      this.push(Buffer.concat([line, Buffer.from('\n')]));
      return;
    }
    rewriteObjectRVs(event, this.mapRV);
    if (this.presentIdentity) presentOriginalIdentity(event);
    this.push(goJsonBody(event));
  }
}
