/**
 * A write's body on its way to the backend: read and rewritten for a moved shard (its RVs and UIDs),
 * checked for the bridge's own annotations, and, for a Service whose values the source must allocate,
 * made source first (source-first-*.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BridgeError } from '../../lib/errors.js';
import { headerValue } from '../../lib/proxy/headers.js';
import { readBody } from '../../lib/proxy/read-body.js';
import { WRITE_VERBS } from '../../lib/routing/request-info.js';
import { rewriteRequestBody } from '../../lib/routing/request-rewrite.js';
import { sendBodyRefusal, sendRefusal } from '../../lib/routing/status-responses.js';
import type { Prepared, ProxyContext } from './request-context.js';
import { countRequest } from './request-counter.js';
import { parseCreateBody, sourceAllocatingWrite } from './source-allocation.js';
import { applySourceFirst } from './source-first-apply.js';
import { createSourceFirst } from './source-first-create.js';
import { updateSourceFirst } from './source-first-update.js';
import { identifyWrite, writeKind } from './write-identity.js';

const MAX_REWRITTEN_BODY_BYTES = 8 * 1024 * 1024;

/**
 * A write to a shard may name the bridge's own annotations (refused), and one to a moved shard carries
 * resourceVersions of the client's epoch and the original's UIDs: its body is read and rewritten for
 * the backend whatever its format (and the headers updated; request-rewrite.ts, write-identity.ts).
 * Undefined: the body streams through untouched (never-moved shards, except the bodies that could name
 * the annotations; a proxy subresource, whose body is no API object); 'answered': the client was
 * refused (too large, an older epoch's RV, unreadable, CBOR or unknown format, a bridge annotation).
 */
export async function rewrittenWriteBody(req: IncomingMessage, res: ServerResponse, prepared: Prepared): Promise<Buffer | undefined | 'answered'> {
  const { codec, info, decision } = prepared;
  const contentType = headerValue(req.rawHeaders, 'content-type');
  if (!decision.shard || !WRITE_VERBS.has(info.verb) || info.subresource === 'proxy') return undefined;
  // A never-moved shard's body is read only when it could set the bridge's annotations (an object or a patch).
  const kind = writeKind(info.verb, contentType ?? '');
  if (!codec && (!kind || kind === 'delete')) return undefined;
  const raw = await readBody(req, MAX_REWRITTEN_BODY_BYTES);
  if (raw === undefined) {
    sendRefusal(res, new BridgeError('BRIDGE_ERR_REQUEST_BODY', `request body larger than ${MAX_REWRITTEN_BODY_BYTES} bytes`, { status: 413 }));
    return 'answered';
  }
  let body = raw;
  if (codec) {
    const rewritten = rewriteRequestBody(raw, contentType, codec, info.verb);
    if (!rewritten.ok) {
      sendBodyRefusal(res, info, rewritten);
      return 'answered';
    }
    body = rewritten.body;
  }
  const identified = await identifyWrite(
    { info, target: decision.target, cluster: prepared.cluster, codec, headersForBody: prepared.headersForBody, contentType: contentType ?? '' },
    body,
    res,
  );
  if (!identified.ok) return 'answered';
  prepared.uids = identified.uids;
  body = identified.body;
  prepared.headers = prepared.headersForBody(body.length);
  return body;
}

/**
 * A write of a destination-owned shard whose values the source must allocate (source-allocation.ts):
 * made source first (source-first-create.ts, source-first-update.ts, source-first-apply.ts). False when it does not apply
 * (or turned out not to allocate), and the request goes on as any other.
 */
export async function answeredSourceFirst(ctx: ProxyContext, prepared: Prepared, body: Buffer, res: ServerResponse, started: bigint): Promise<boolean> {
  const { info, decision } = prepared;
  if (decision.target !== 'destination' || !decision.shard) return false;
  const contentType = headerValue(prepared.headers, 'content-type') ?? '';
  const write = sourceAllocatingWrite(info, prepared.path, contentType);
  if (!write) return false;
  // The object a create asks for: a JSON POST's or an apply's (YAML); a protobuf POST is passed on undecoded.
  const requested =
    write === 'apply' ? parseCreateBody(body, true) : write === 'create' && contentType.startsWith('application/json') ? parseCreateBody(body) : undefined;
  // An apply the bridge cannot read is left to the destination to accept or refuse.
  if (write === 'apply' && !requested) return false;
  const counter = countRequest(ctx.metrics, 'destination', info.verb);
  res.once('close', () => counter.cancel());
  const common = {
    shard: decision.shard,
    path: prepared.path,
    headersForBody: prepared.headersForBody,
    body,
    contentType,
    source: ctx.clusters.source,
    destination: ctx.clusters.destination,
    codec: prepared.codec,
    log: ctx.log,
  };
  const result =
    write === 'update'
      ? { write, ...(await updateSourceFirst({ ...common, method: info.verb === 'update' ? 'PUT' : 'PATCH' }, res)) }
      : write === 'apply'
        ? await applySourceFirst({ ...common, requested: requested! }, res)
        : { write, ...(await createSourceFirst({ ...common, write, requested }, res)) };
  if (result.outcome === 'not-a-create' || result.outcome === 'not-allocating') {
    counter.cancel();
    return false;
  }
  counter.count(result.status, 'source-first', Number(process.hrtime.bigint() - started) / 1e9);
  if (result.write === 'update') ctx.metrics.sourceFirstUpdate(decision.shard, result.outcome);
  else ctx.metrics.sourceFirstCreate(decision.shard, result.outcome);
  return true;
}
