/** Answers a client with a buffered backend response whose resourceVersions are presented in the shard's epoch. */
import type { ServerResponse } from 'node:http';
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
