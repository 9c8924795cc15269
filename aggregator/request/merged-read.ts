/**
 * The entry of a merged read (route target `merged`, ns-design section 3, docs/adr/0027): a
 * cluster-wide LIST or WATCH of a carried type whose namespaces are split. Decides what the client
 * asked for (its resourceVersion or continue token decoded by the merged codec, its Accept) and hands
 * it to merged-list.ts or merged-watch.ts. Other verbs without a namespace (deletecollection across
 * namespaces) are refused: the bridge does not split a write between the clusters.
 */
import type { ServerResponse } from 'node:http';
import { headerValue } from '../../lib/proxy/headers.js';
import { MERGED_RV_BASE, MergedRVCodec } from '../../lib/routing/merged-rv.js';
import { expiredMessage, expiredResourceVersion, expiredWatch, sendStatus } from '../../lib/routing/status-responses.js';
import { decodeMergedContinue } from './merged-continue.js';
import { tableAtMergedEpoch } from './merged-ownership.js';
import { serveMergedList } from './merged-list.js';
import { acceptsJson } from './merged-request.js';
import { sourceHasReached } from './source-revision-floor.js';
import { serveMergedWatch } from './merged-watch.js';
import type { MergedPrepared, ProxyContext } from './request-context.js';

type Decoded = { kind: 'unset'; raw: string } | { kind: 'current'; source: bigint; destination: bigint } | { kind: 'expired' } | { kind: 'invalid' };

/**
 * A presented RV against the current merged epochs: per-shard RVs and older epochs expire (410), as
 * compacted ones do. A replica whose table is behind another replica's newer merged epoch reads that
 * epoch's RVs as positions at least 2^16 source revisions past the source's own (ADR 0025): so a
 * position past the source's revision reloads the table and is decoded again; still past it, 410.
 */
async function decodeRV(ctx: ProxyContext, presented: string): Promise<Decoded> {
  const decoded = decodeOnce(ctx, presented);
  if (decoded.kind !== 'current') return decoded;
  if (await sourceHasReached(ctx.clusters.source, decoded.source)) return decoded;
  await ctx.mergedEpochs?.refresh();
  const again = decodeOnce(ctx, presented);
  return again.kind === 'current' && !(await sourceHasReached(ctx.clusters.source, again.source)) ? { kind: 'expired' } : again;
}

function decodeOnce(ctx: ProxyContext, presented: string): Decoded {
  if (presented === '' || presented === '0') return { kind: 'unset', raw: presented };
  const decoded = ctx.routing.mergedCodec().decode(presented);
  if (decoded.kind === 'current') return { kind: 'current', source: decoded.source, destination: decoded.destination };
  if (decoded.kind === 'invalid') return { kind: 'invalid' };
  if (decoded.kind === 'unset') return { kind: 'unset', raw: presented };
  // not-merged, older-epoch, ahead (an RV this table cannot place: a replica behind presented nothing above it).
  return { kind: 'expired' };
}

function currentEpochStart(ctx: ProxyContext): string {
  const epochs = ctx.routing.table.merged?.epochs ?? [];
  const last = epochs[epochs.length - 1];
  return last ? (MERGED_RV_BASE + BigInt(last.offset)).toString() : '0';
}

/** What a merged read never serves: writes across namespaces (405) and a client that takes no JSON (406); undefined when served. */
function unservable(prepared: MergedPrepared, res: ServerResponse): number | undefined {
  const { info, req } = prepared;
  if (info.verb !== 'list' && info.verb !== 'watch') {
    const message = `${info.verb} of ${info.resource} across all namespaces is not served while namespaces are split between the clusters; name a namespace (docs/adr/0027)`;
    sendStatus(res, 405, 'MethodNotAllowed', message);
    return 405;
  }
  if (!acceptsJson(headerValue(req.rawHeaders, 'accept'))) {
    sendStatus(res, 406, 'NotAcceptable', 'a cluster-wide read merged from both clusters is served as JSON only; accept application/json');
    return 406;
  }
  return undefined;
}

/** A merged RV or continue token the current epoch no longer serves, answered as a compacted one (an ERROR event in a watch). */
function expired(ctx: ProxyContext, res: ServerResponse, verb: string, rv: string, continueToken?: true): number {
  const message = expiredMessage(rv, currentEpochStart(ctx), continueToken);
  if (verb === 'watch') expiredWatch(res, message);
  else expiredResourceVersion(res, message);
  return 410;
}

/** The next page of a merged list: the bridge's token, its merged RV still of the current epoch. */
async function serveContinue(
  ctx: ProxyContext,
  prepared: MergedPrepared,
  res: ServerResponse,
  continueParam: string,
  limit: string | undefined,
): Promise<number> {
  const token = decodeMergedContinue(continueParam);
  if (!token) {
    sendStatus(res, 400, 'BadRequest', 'continue key is not valid: not a continue token of a merged list');
    return 400;
  }
  const at = await decodeRV(ctx, token.rv);
  if (at.kind === 'current') return serveMergedList(ctx, prepared, res, { kind: 'continue', token, source: at.source, destination: at.destination }, limit);
  // A namespace moved since the first page: the rest is read at the revisions that page fixed, with the
  // owners of then (kube-apiserver's continue tokens outlive writes too, until compaction: 410 then).
  const older = ctx.routing.mergedCodec().decode(token.rv);
  if (older.kind !== 'older-epoch') return expired(ctx, res, 'list', token.rv, true);
  const then = tableAtMergedEpoch(ctx.routing.table, older.epoch);
  const position = MergedRVCodec.forTable(then).decode(token.rv);
  if (position.kind !== 'current') return expired(ctx, res, 'list', token.rv, true);
  const start = { kind: 'continue' as const, token, source: position.source, destination: position.destination, table: then };
  return serveMergedList(ctx, prepared, res, start, limit);
}

export async function serveMergedRead(ctx: ProxyContext, prepared: MergedPrepared, res: ServerResponse): Promise<number> {
  const refused = unservable(prepared, res);
  if (refused !== undefined) return refused;
  const { info, req } = prepared;
  const query = new URL(req.url ?? '/', 'https://aggregator').searchParams;
  const match = query.get('resourceVersionMatch') ?? undefined;
  const limit = query.get('limit') && query.get('limit') !== '0' ? query.get('limit')! : undefined;
  const continueParam = query.get('continue') ?? '';
  if (continueParam !== '' && info.verb === 'list') return serveContinue(ctx, prepared, res, continueParam, limit);
  const presented = query.get('resourceVersion') ?? '';
  const at = await decodeRV(ctx, presented);
  if (at.kind === 'invalid') {
    sendStatus(res, 400, 'BadRequest', `resourceVersion "${presented}" is not a resourceVersion this API server presented`);
    return 400;
  }
  if (at.kind === 'expired') return expired(ctx, res, info.verb, presented);
  const resourceVersion =
    at.kind === 'unset' ? { source: at.raw, destination: at.raw } : { source: at.source.toString(), destination: at.destination.toString() };
  if (info.verb === 'watch') {
    const position = at.kind === 'current' ? { source: at.source, destination: at.destination } : undefined;
    return serveMergedWatch(ctx, prepared, res, { position, resourceVersion, match });
  }
  // "0" (any: the watch cache's list) may be older than the merged epoch's start, which no merged RV presents: ask for at least the start.
  const epoch = ctx.routing.table.merged?.epochs.at(-1);
  if (at.kind === 'unset' && at.raw === '0' && epoch) {
    const atLeast = { source: epoch.source, destination: epoch.destination };
    return serveMergedList(ctx, prepared, res, { kind: 'fresh', resourceVersion: atLeast, match: 'NotOlderThan' }, limit);
  }
  return serveMergedList(ctx, prepared, res, { kind: 'fresh', resourceVersion, match }, limit);
}
