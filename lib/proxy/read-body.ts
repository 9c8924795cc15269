/** Reading a request or response body whole, bounded: proxies buffer only what they must rewrite or may resend. */
import type { Readable } from 'node:stream';

/** The whole stream, up to `limit` bytes; undefined beyond it (the stream is then destroyed). */
export async function readBody(stream: Readable, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
