/**
 * Local requests to a shard the source owns again after moves (docs/adr/0011): its epoch presents
 * `source RV + offset`, so the sidecar applies the shard's codec exactly as the aggregator does
 * (aggregator/request/proxy.ts), with the same pieces of lib/routing/: the query (`resourceVersion`, `continue`;
 * 410 for an older epoch), a JSON write body (409 for an older epoch's precondition), Accept without
 * protobuf and without compression, and the answer (JSON bodies whole, watch events as they flow).
 * The refusals are the aggregator's own Status answers (lib/routing/status-responses.ts), byte for byte.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { headerValue } from '../lib/proxy/headers.js';
import { parseRequestInfo } from '../lib/routing/request-info.js';
import { isJsonBody, jsonOnlyAccept, replacedWhenRewriting, rewriteJsonRequestBody, rewriteQuery } from '../lib/routing/json-request-rewrite.js';
import { responseRVMapper, type ShardRVCodec } from '../lib/routing/resource-version.js';
import { responseRewrite, sendBuffered, sendRewritten } from '../lib/routing/rewritten-response.js';
import type { RequestInfo } from '../lib/routing/types.js';
import { WatchRVRewriter } from '../lib/routing/watch-rewriter.js';
import { refuseExpiredQuery, sendBodyRefusal } from '../lib/routing/status-responses.js';
import type { UpstreamChoice } from './upstream-selector.js';

/**
 * Whether the sidecar rewrites a write body of this type itself: JSON only. The aggregator also
 * rewrites protobuf and YAML (lib/routing/request-rewrite.ts), whose parsers the sidecar does not
 * carry, and its identity step (needsIdentityStep) reads JSON only: other bodies go to the aggregator.
 */
export function rewritesBodyLocally(contentType: string | undefined): boolean {
  return contentType !== undefined && isJsonBody(contentType);
}

/** The choice once the body's type is known: an offset shard's write with a body the sidecar does not rewrite goes to the aggregator. */
export function boundOffsetWrite(choice: UpstreamChoice, hasBody: boolean, rawHeaders: readonly string[]): UpstreamChoice {
  if (!choice.codec || !hasBody || rewritesBodyLocally(headerValue(rawHeaders, 'content-type'))) return choice;
  return { target: 'upstream', reason: 'shard-rv-offset', shard: choice.shard };
}

/** An upgrade (exec, attach, a watch over WebSocket) to an offset shard is piped raw, so it cannot be rewritten: the aggregator takes it. */
export function boundOffsetUpgrade(choice: UpstreamChoice): UpstreamChoice {
  return choice.codec ? { target: 'upstream', reason: 'shard-rv-offset', shard: choice.shard } : choice;
}

/** The sidecar answered the client itself (an older epoch's RV): nothing goes to a backend. */
export const ANSWERED = Symbol('answered');
/** The write goes to the aggregator after all (needsIdentityStep). */
export const TO_AGGREGATOR = Symbol('to-aggregator');

/**
 * Whether a write to an offset shard needs the aggregator's identity step (aggregator/request/write-identity.ts:
 * one identity per object, docs/adr/0014), which reads the stored object: an update (PUT) replaces the
 * annotations, so the stored marks must be put back; a body that names a UID (a delete precondition,
 * metadata.uid, ownerReferences) must have it mapped; one that names the annotations or the bridge's
 * group (escaped in any way: a backslash) may touch the marks. Every other write is served locally.
 */
export function needsIdentityStep(verb: string, body: Buffer): boolean {
  if (verb === 'update') return true;
  return body.includes('uid') || body.includes('annotations') || body.includes('cluster-bridge.io') || body.includes('\\');
}

/** Sets the Date header the aggregator's own answers carry (the sidecar otherwise relays the backend's). */
function asAggregator(res: ServerResponse): ServerResponse {
  res.sendDate = true;
  return res;
}

/** One local request to an offset shard: what the source API server gets, and how its answer reaches the client. */
export class OffsetRewrite {
  readonly info: RequestInfo;
  readonly path: string;
  private body: Buffer | undefined;

  private constructor(
    readonly codec: ShardRVCodec,
    info: RequestInfo,
    path: string,
    private readonly headers: readonly string[],
  ) {
    this.info = info;
    this.path = path;
  }

  /** Rewrites the query; an older epoch's RV or continue token is answered 410 (the aggregator's Status). */
  static begin(codec: ShardRVCodec, method: string, url: string, headers: readonly string[], res: ServerResponse): OffsetRewrite | typeof ANSWERED {
    const info = parseRequestInfo(method, url);
    const query = rewriteQuery(url, codec);
    if (!query.ok) {
      refuseExpiredQuery(asAggregator(res), info.verb, query, codec.current.offset);
      return ANSWERED;
    }
    return new OffsetRewrite(codec, info, query.path, headers);
  }

  /**
   * Rewrites a buffered write body (JSON: boundOffsetWrite sent the rest away); an older epoch's
   * precondition is answered 409. A write that needs the aggregator's identity step is sent there
   * instead (`TO_AGGREGATOR`, needsIdentityStep).
   */
  rewriteBody(raw: Buffer, res: ServerResponse): typeof ANSWERED | typeof TO_AGGREGATOR | undefined {
    if (needsIdentityStep(this.info.verb, raw)) return TO_AGGREGATOR;
    const rewritten = rewriteJsonRequestBody(raw, this.codec);
    if (!rewritten.ok) {
      sendBodyRefusal(asAggregator(res), this.info, rewritten);
      return ANSWERED;
    }
    this.body = rewritten.body;
    return undefined;
  }

  /** The body for the source API server, if one was rewritten. */
  get localBody(): Buffer | undefined {
    return this.body;
  }

  /** The request headers for the source API server: JSON answers without compression, the rewritten body's length. */
  localHeaders(): string[] {
    const out: string[] = [];
    const raw = this.headers;
    for (let i = 0; i < raw.length; i += 2) {
      const lower = raw[i]!.toLowerCase();
      if (replacedWhenRewriting(lower) || (this.body && lower === 'content-length')) continue;
      out.push(raw[i]!, raw[i + 1]!);
    }
    out.push('Accept', jsonOnlyAccept(headerValue(raw, 'accept')));
    if (this.body) out.push('Content-Length', String(this.body.length));
    return out;
  }

  /**
   * The source's answer for the client: a JSON body is rewritten and sent here (undefined is returned);
   * otherwise the stream to relay (a watch's events rewritten as they flow, anything else as it came).
   */
  answer(upstream: IncomingMessage, res: ServerResponse, extraHeaders: string[]): Readable | undefined {
    const how = responseRewrite(this.info.verb === 'watch', upstream.statusCode!, upstream.headers['content-type']);
    if (how === 'whole-body') return void sendRewritten(res, upstream, this.codec, extraHeaders);
    return how === 'watch-events' ? upstream.pipe(new WatchRVRewriter(responseRVMapper(this.codec))) : upstream;
  }

  /** A buffered answer (a 403 that was not the fence's), rewritten as the aggregator would. */
  sendBufferedAnswer(upstream: IncomingMessage, body: Buffer, res: ServerResponse): void {
    const json = responseRewrite(false, upstream.statusCode!, upstream.headers['content-type']) === 'whole-body';
    sendBuffered(
      res,
      { status: upstream.statusCode!, statusMessage: upstream.statusMessage ?? '', rawHeaders: upstream.rawHeaders, body },
      json ? this.codec : undefined,
    );
  }
}
