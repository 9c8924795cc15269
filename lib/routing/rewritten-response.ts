/**
 * The response side of resourceVersion rewriting for a moved shard, shared by the aggregator and the
 * sidecar's local routing: which answers are rewritten and how, and the buffered rewrite of a JSON body.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { clientResponseHeaders } from '../proxy-headers.js';
import { parseJsonExact, responseRVMapper, rewriteObjectRVs, type ShardRVCodec } from './resource-version.js';

export interface BufferedResponse {
  status: number;
  statusMessage: string;
  rawHeaders: string[];
  body: Buffer;
}

/** Raw headers without Content-Length, for a body whose length changes. */
export function withoutContentLength(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() !== 'content-length') out.push(raw[i]!, raw[i + 1]!);
  return out;
}

/** Sends `upstream` to the client; a JSON body (objects, lists, Tables, Status) gets its RVs rewritten by `codec`. */
export function sendBuffered(res: ServerResponse, upstream: BufferedResponse, codec: ShardRVCodec | undefined, extraHeaders: string[] = []): void {
  let body = upstream.body;
  if (codec) {
    try {
      const parsed = parseJsonExact(body.toString('utf8'));
      rewriteObjectRVs(parsed, responseRVMapper(codec));
      body = Buffer.from(JSON.stringify(parsed));
    } catch {
      // Not JSON after all: send it as it came.
    }
  }
  res
    .writeHead(upstream.status, upstream.statusMessage, [
      ...withoutContentLength(clientResponseHeaders(upstream.rawHeaders)),
      ...extraHeaders,
      'Content-Length',
      String(body.length),
    ])
    .end(body);
}

/**
 * How the backend's answer to a rewritten request reaches the client: a watch's events rewritten as they
 * flow (200 only: a refused watch is a Status), any other JSON answer rewritten whole, the rest as it came.
 */
export type ResponseRewrite = 'watch-events' | 'whole-body' | 'none';

export function responseRewrite(watch: boolean, status: number, contentType: string | undefined): ResponseRewrite {
  if (watch) return status === 200 ? 'watch-events' : 'none';
  return contentType?.startsWith('application/json') ? 'whole-body' : 'none';
}

/** Reads the backend's JSON answer whole and sends it rewritten (lists, objects, Tables, Status). */
export function sendRewritten(res: ServerResponse, upstream: IncomingMessage, codec: ShardRVCodec, extraHeaders: string[] = []): void {
  const chunks: Buffer[] = [];
  upstream.on('data', (c: Buffer) => chunks.push(c));
  upstream.on('end', () =>
    sendBuffered(
      res,
      { status: upstream.statusCode!, statusMessage: upstream.statusMessage ?? '', rawHeaders: upstream.rawHeaders, body: Buffer.concat(chunks) },
      codec,
      extraHeaders,
    ),
  );
  upstream.on('error', () => res.destroy());
}
