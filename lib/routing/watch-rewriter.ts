/**
 * Rewrites the resourceVersions of a JSON watch stream (kube-apiserver frames each event as one JSON
 * object followed by a newline) as it flows, whatever the chunk boundaries, so watches of a moved
 * shard present the shard's RVs without buffering more than one event (framed by lib/kube/watch-stream.ts). Each event's objects then
 * show the original's identity (object-identity.ts) unless `presentIdentity` is false, and are written
 * as kube-apiserver writes JSON (lib/kube/go-json.ts).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { goJsonBody } from '../kube/go-json.js';
import { LineSplitter } from '../kube/watch-stream.js';
import { presentOriginalIdentity } from './object-identity.js';
import { parseJsonExact, rewriteObjectRVs } from './resource-version.js';

export class WatchRVRewriter extends Transform {
  private readonly lines = new LineSplitter();

  constructor(
    private readonly mapRV: (rv: string) => string,
    private readonly presentIdentity = true,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      this.lines.push(chunk, (line) => this.emitEvent(line));
    } catch (err) {
      // A line over the limit (lib/kube/watch-stream.ts): the watch ends with the error rather than buffer without end.
      return done(err as Error);
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    this.emitEvent(this.lines.end());
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
