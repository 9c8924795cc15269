/**
 * A merged cluster-wide LIST (ns-design section 3): both backends listed with their own revision, the
 * pages merged (merged-list-body.ts) under one merged resourceVersion. Consistency: the namespace
 * owners are read before and after the backends' reads; a hand-off that began or completed meanwhile
 * means the union may hold a duplicate or a gap, so the list is read again (bounded, then 503).
 * Pagination (`limit`): the source's pages first, then the destination's at the exact revision the
 * first page fixed (a limit-1 probe gives it), under the bridge's continue token (merged-continue.ts);
 * the page where the source ends is filled from the destination.
 */
import type { ServerResponse } from 'node:http';
import { BridgeError } from '../../lib/errors.js';
import { goJsonBody } from '../../lib/kube/go-json.js';
import { parseJsonExact } from '../../lib/routing/resource-version.js';
import { sendRefusal } from '../../lib/routing/status-responses.js';
import type { ClusterSide, RoutingTable } from '../../lib/routing/types.js';
import { encodeMergedContinue, type MergedContinue } from './merged-continue.js';
import { presentingCodec } from './merged-epochs.js';
import { mergeListPages, type ListPage } from './merged-list-body.js';
import { ownershipFingerprint } from './merged-ownership.js';
import { backendPath, sideRequest } from './merged-request.js';
import { noteSourceRevision } from './source-revision-floor.js';
import type { MergedPrepared, ProxyContext } from './request-context.js';

/** Where the client's list starts: its own RV (a merged one decoded to both revisions), or a continue token. */
export type ListStart =
  | { kind: 'fresh'; resourceVersion: { source: string; destination: string }; match: string | undefined }
  /** `table`: the owners of the first page's time, when namespaces moved since (merged-ownership.ts tableAtMergedEpoch). */
  | { kind: 'continue'; token: MergedContinue; source: bigint; destination: bigint; table?: RoutingTable };

/** Reads with the owners changing under them are retried this often before the client gets 503. */
export const MERGED_LIST_ATTEMPTS = 3;
const LIST_TIMEOUT_MS = 60_000;

export interface BackendAnswer {
  side: ClusterSide;
  status: number;
  rawHeaders: string[];
  body: Buffer;
}

/** A backend's refusal (403, 410, 400 ...) is the client's answer: each backend authorizes and judges its part. */
type Outcome =
  | { kind: 'answer'; answer: BackendAnswer }
  | { kind: 'pages'; pages: ListPage[]; source: bigint; destination: bigint; next?: Omit<MergedContinue, 'rv'>; whole: boolean };

/** `url`: the client's (default), or another list path of the same resource (a watch's revision probe). */
export async function listSide(
  ctx: ProxyContext,
  prepared: MergedPrepared,
  side: ClusterSide,
  params: Record<string, string | undefined>,
  url = prepared.req.url ?? '/',
): Promise<BackendAnswer> {
  const { cluster, agent, headers } = sideRequest(ctx, prepared, side);
  const answer = await cluster.rest.rawBuffered({
    method: 'GET',
    path: backendPath(url, params),
    headers,
    agent,
    timeoutMs: LIST_TIMEOUT_MS,
  });
  return { side, ...answer };
}

type Json = Record<string, unknown>;

export function listRevision(body: Json): bigint {
  const rv = (body.metadata as Json | undefined)?.resourceVersion;
  if (typeof rv !== 'string' || !/^\d+$/.test(rv))
    throw new BridgeError('BRIDGE_ERR_KUBE_API', `a backend list answered without a decimal resourceVersion (${String(rv)})`);
  return BigInt(rv);
}

function continueOf(body: Json): string {
  const token = (body.metadata as Json | undefined)?.continue;
  return typeof token === 'string' ? token : '';
}

function hasItems(body: Json): boolean {
  return ((body.items ?? body.rows) as unknown[] | undefined)?.length !== 0 || continueOf(body) !== '';
}

async function readOnce(ctx: ProxyContext, prepared: MergedPrepared, start: ListStart, limit: string | undefined): Promise<Outcome> {
  let calls: [ClusterSide, Record<string, string | undefined>][];
  if (start.kind === 'continue') {
    const { side, token } = start.token;
    const params = token ? { continue: token, limit } : { resourceVersion: start.destination.toString(), resourceVersionMatch: 'Exact', limit };
    calls = [[side, params]];
  } else {
    const { resourceVersion, match } = start;
    // Paginated: the destination is only probed now, for the revision its pages are read at later.
    calls = [
      ['source', { resourceVersion: resourceVersion.source, resourceVersionMatch: match, limit }],
      ['destination', { resourceVersion: resourceVersion.destination, resourceVersionMatch: match, limit: limit ? '1' : undefined }],
    ];
  }
  const answers = await Promise.all(calls.map(([side, params]) => listSide(ctx, prepared, side, params)));
  const refused = answers.find((a) => a.status !== 200);
  if (refused) return { kind: 'answer', answer: refused };
  const bodies = answers.map((a) => ({ side: a.side, body: parseJsonExact(a.body.toString('utf8')) as Json }));
  if (start.kind === 'continue') {
    const next = continueOf(bodies[0]!.body);
    if (next)
      return {
        kind: 'pages',
        pages: bodies,
        source: start.source,
        destination: start.destination,
        next: { side: start.token.side, token: next },
        whole: false,
      };
    const revisions = { source: start.source, destination: start.destination };
    return start.token.side === 'source'
      ? fillFromDestination(ctx, prepared, bodies[0]!, revisions, limit)
      : { kind: 'pages', pages: bodies, ...revisions, whole: false };
  }
  const [source, destination] = bodies as [ListPage, ListPage];
  const revisions = { source: listRevision(source.body), destination: listRevision(destination.body) };
  noteSourceRevision(ctx.clusters.source, revisions.source);
  if (!limit) return { kind: 'pages', pages: bodies, ...revisions, whole: true };
  const sourceNext = continueOf(source.body);
  if (sourceNext) return { kind: 'pages', pages: [source], ...revisions, next: { side: 'source', token: sourceNext }, whole: false };
  if (!hasItems(destination.body)) return { kind: 'pages', pages: [source], ...revisions, whole: false };
  return fillFromDestination(ctx, prepared, source, revisions, limit);
}

/**
 * The source's last page leaves room: the destination's first page fills it, at the revision the list
 * fixed. A list that fits one page is then answered in one, with no continue token a hand-off could
 * expire between two pages (kubectl does not retry a 410 on a continue: its `get -A` failed so).
 */
async function fillFromDestination(
  ctx: ProxyContext,
  prepared: MergedPrepared,
  source: ListPage,
  revisions: { source: bigint; destination: bigint },
  limit: string | undefined,
): Promise<Outcome> {
  const room = Number(limit) - (((source.body.items ?? source.body.rows) as unknown[] | undefined)?.length ?? 0);
  if (!(room > 0)) return { kind: 'pages', pages: [source], ...revisions, next: { side: 'destination', token: '' }, whole: false };
  const params = { resourceVersion: revisions.destination.toString(), resourceVersionMatch: 'Exact', limit: String(room) };
  const answer = await listSide(ctx, prepared, 'destination', params);
  if (answer.status !== 200) return { kind: 'answer', answer };
  const destination = { side: 'destination' as const, body: parseJsonExact(answer.body.toString('utf8')) as Json };
  const next = continueOf(destination.body);
  return { kind: 'pages', pages: [source, destination], ...revisions, ...(next ? { next: { side: 'destination', token: next } } : {}), whole: false };
}

export function passAnswer(res: ServerResponse, answer: BackendAnswer): void {
  const headers: string[] = [];
  for (let i = 0; i < answer.rawHeaders.length; i += 2) {
    const name = answer.rawHeaders[i]!.toLowerCase();
    if (name === 'content-type' || name === 'retry-after' || name === 'cache-control') headers.push(answer.rawHeaders[i]!, answer.rawHeaders[i + 1]!);
  }
  res.writeHead(answer.status, [...headers, 'Content-Length', String(answer.body.length)]).end(answer.body);
}

function unsettled(message: string): BridgeError {
  return new BridgeError('BRIDGE_ERR_MERGED_READ', message, { retryAfterSeconds: 1 });
}

export async function serveMergedList(
  ctx: ProxyContext,
  prepared: MergedPrepared,
  res: ServerResponse,
  start: ListStart,
  limit: string | undefined,
): Promise<number> {
  for (let attempt = 0; attempt < MERGED_LIST_ATTEMPTS; attempt++) {
    const table = (start.kind === 'continue' && start.table) || ctx.routing.table;
    const before = ownershipFingerprint(ctx.routing.table);
    const outcome = await readOnce(ctx, prepared, start, limit);
    if (outcome.kind === 'answer') {
      passAnswer(res, outcome.answer);
      return outcome.answer.status;
    }
    if (ownershipFingerprint(ctx.routing.table) !== before) continue;
    let resourceVersion: string;
    if (start.kind === 'continue') resourceVersion = start.token.rv;
    else {
      const codec = await presentingCodec(ctx.routing, ctx.mergedEpochs, outcome.source, outcome.destination);
      if (!codec) return refuse(res, unsettled('no merged resourceVersion epoch can be persisted for this list; retry shortly'));
      resourceVersion = codec.present(outcome.source, outcome.destination);
    }
    const continueToken = outcome.next ? encodeMergedContinue({ ...outcome.next, rv: resourceVersion }) : undefined;
    const body = mergeListPages(table, outcome.pages, { resourceVersion, continueToken }, outcome.whole);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' }).end(goJsonBody(body));
    return 200;
  }
  return refuse(res, unsettled(`namespaces changed owner during each of ${MERGED_LIST_ATTEMPTS} reads of this list; retry shortly`));
}

function refuse(res: ServerResponse, err: BridgeError): number {
  sendRefusal(res, err);
  return err.status;
}
