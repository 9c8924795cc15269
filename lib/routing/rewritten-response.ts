/**
/**
 * The response side of rewriting for a moved shard, shared by the aggregator and the sidecar's local
 * routing: which answers are rewritten, and a buffered backend answer sent with its resourceVersions
 * presented in the shard's epoch (the codec's step) and the original's identity (object-identity.ts),
 * written as kube-apiserver writes JSON (lib/kube/go-json.ts; its trailing newline kept).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { goJsonValue } from '../kube/go-json.js';
import type { BufferedAnswer } from '../kube/rest-client.js';
import { readBody } from '../proxy/read-body.js';
import { sendStatus } from './status-responses.js';
import { clientResponseHeaders } from '../proxy/headers.js';
import { presentOriginalIdentity, presentStatusUids } from './object-identity.js';
import { parseJsonExact, responseRVMapper, rewriteObjectRVs, type ShardRVCodec } from './resource-version.js';

/** An answer read in full (KubeRestClient.rawBuffered). */
export type BufferedResponse = BufferedAnswer;

/** Raw headers without Content-Length, for a body whose length changes. */
export function withoutContentLength(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() !== 'content-length') out.push(raw[i]!, raw[i + 1]!);
  return out;
}

/** One in-place change of a decoded JSON answer. */
export type ResponseStep = (parsed: unknown) => void;

/** The steps for a moved shard's answer: its RVs, then the identity; `uids` (backend -> presented) of the request's own lookups. */
export function movedShardSteps(codec: ShardRVCodec, uids?: ReadonlyMap<string, string>): ResponseStep[] {
  const mapRV = responseRVMapper(codec);
  return [
    (parsed) => rewriteObjectRVs(parsed, mapRV),
    (parsed) => {
      const replaced = new Map(uids);
      presentOriginalIdentity(parsed, replaced);
      presentStatusUids(parsed, replaced);
    },
  ];
}

/** The JSON body after `steps`, or undefined when it is not JSON (sent as it came). */
export function rewriteJsonBody(body: Buffer, steps: readonly ResponseStep[]): Buffer | undefined {
  let parsed: unknown;
  const text = body.toString('utf8');
  try {
    parsed = parseJsonExact(text);
  } catch {
    return undefined;
  }
  for (const step of steps) step(parsed);
  return Buffer.from(`${goJsonValue(parsed)}${text.endsWith('\n') ? '\n' : ''}`);
}

/** Sends `upstream` to the client; a JSON body (objects, lists, Tables, Status) of a moved shard is rewritten (movedShardSteps). */
export function sendBuffered(
  res: ServerResponse,
  upstream: BufferedResponse,
  codec: ShardRVCodec | undefined,
  extraHeaders: string[] = [],
  uids?: ReadonlyMap<string, string>,
): void {
  const body = (codec && rewriteJsonBody(upstream.body, movedShardSteps(codec, uids))) || upstream.body;
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

/** The largest answer rewritten whole (a list of a moved shard is read before it is sent). */
export const MAX_REWRITTEN_RESPONSE_BYTES = 256 * 1024 * 1024;

/** Reads the backend's JSON answer whole (bounded) and sends it rewritten (lists, objects, Tables, Status). */
export function sendRewritten(
  res: ServerResponse,
  upstream: IncomingMessage,
  codec: ShardRVCodec,
  extraHeaders: string[] = [],
  uids?: ReadonlyMap<string, string>,
): void {
  readBody(upstream, MAX_REWRITTEN_RESPONSE_BYTES).then(
    (body) => {
      if (!body) return sendStatus(res, 500, 'InternalError', `the answer is larger than ${MAX_REWRITTEN_RESPONSE_BYTES} bytes; ask for pages (limit)`);
      const buffered = { status: upstream.statusCode!, statusMessage: upstream.statusMessage ?? '', rawHeaders: upstream.rawHeaders, body };
      sendBuffered(res, buffered, codec, extraHeaders, uids);
    },
    () => res.destroy(),
  );
}
