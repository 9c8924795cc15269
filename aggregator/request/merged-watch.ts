/**
 * A merged cluster-wide WATCH (ns-design section 3): both backends watched from their own revision
 * (the client's merged RV decoded, or both from the client's "" / "0"), their events merged into one
 * JSON stream by MergedWatchState (merged-watch-state.ts). The stream ends when either backend's ends
 * or errs, when the client leaves, when a hand-off closes the type's watches (ShardActivity, under the
 * type's shard key), when the namespace owners or merged epochs change (the table says so), and before
 * a position would pass the merged epoch's headroom (a new epoch is persisted; the client re-watches,
 * gets 410 for the old epoch's RV and relists, as after any owner change).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BridgeError, errorMessage } from '../../lib/errors.js';
import { goJsonBody } from '../../lib/kube/go-json.js';
import { LineSplitter } from '../../lib/kube/watch-stream.js';
import { readBody } from '../../lib/proxy/read-body.js';
import { parseJsonExact } from '../../lib/routing/resource-version.js';
import { sendRefusal } from '../../lib/routing/status-responses.js';
import type { ClusterSide } from '../../lib/routing/types.js';
import { presentingCodec } from './merged-epochs.js';
import { listRevision, listSide, passAnswer, type BackendAnswer } from './merged-list.js';
import { ownershipFingerprint } from './merged-ownership.js';
import { backendPath, sideRequest } from './merged-request.js';
import { MergedWatchState, type BackendEvent, type Position, type Step } from './merged-watch-state.js';
import { noteSourceRevision } from './source-revision-floor.js';
import type { MergedPrepared, ProxyContext } from './request-context.js';

export interface WatchStart {
  /** The client's merged RV decoded; undefined for "" or "0" (the backends' current revisions are read first). */
  position: Position | undefined;
  /** What each backend's watch gets as resourceVersion. */
  resourceVersion: { source: string; destination: string };
  match: string | undefined;
}

const SIDES: readonly ClusterSide[] = ['source', 'destination'];
const HEAD_TIMEOUT_MS = 30_000;
const TABLE_POLL_MS = 60_000;
const MAX_REFUSAL_BYTES = 1024 * 1024;

type Opened = { ok: true; side: ClusterSide; body: IncomingMessage } | { ok: false; answer: BackendAnswer; bodies: IncomingMessage[] };

/** Where the stream starts for "" / "0": each backend's current revision (a limit-1 list, authorized as the caller's list). */
async function startPosition(ctx: ProxyContext, prepared: MergedPrepared): Promise<Position | BackendAnswer> {
  // A plain list of the resource: the watch's own parameters (watch, sendInitialEvents) would make it a watch.
  const { apiPrefix, apiGroup, apiVersion, resource } = prepared.info;
  const list = `/${apiPrefix}/${apiGroup ? `${apiGroup}/` : ''}${apiVersion}/${resource}`;
  const answers = await Promise.all(SIDES.map((side) => listSide(ctx, prepared, side, { limit: '1' }, list)));
  const refused = answers.find((a) => a.status !== 200);
  if (refused) return refused;
  const [source, destination] = answers.map((a) => listRevision(parseJsonExact(a.body.toString('utf8')) as Record<string, unknown>)) as [bigint, bigint];
  return { source, destination };
}

async function openWatches(ctx: ProxyContext, prepared: MergedPrepared, start: WatchStart): Promise<Opened[]> {
  return Promise.all(
    SIDES.map(async (side): Promise<Opened> => {
      const { cluster, agent, headers } = sideRequest(ctx, prepared, side);
      const path = backendPath(prepared.req.url ?? '/', { resourceVersion: start.resourceVersion[side], resourceVersionMatch: start.match });
      const answer = await cluster.rest.raw({ method: 'GET', path, headers, agent, stream: true, timeoutMs: HEAD_TIMEOUT_MS });
      if (answer.status === 200) return { ok: true, side, body: answer.body };
      const body = (await readBody(answer.body, MAX_REFUSAL_BYTES)) ?? Buffer.alloc(0);
      return { ok: false, answer: { side, status: answer.status, rawHeaders: answer.rawHeaders, body }, bodies: [] };
    }),
  );
}

export async function serveMergedWatch(ctx: ProxyContext, prepared: MergedPrepared, res: ServerResponse, start: WatchStart): Promise<number> {
  const position = start.position ?? (await startPosition(ctx, prepared));
  if ('status' in position) {
    passAnswer(res, position);
    return position.status;
  }
  const codec = await presentingCodec(ctx.routing, ctx.mergedEpochs, position.source, position.destination);
  if (!codec) {
    const err = new BridgeError('BRIDGE_ERR_MERGED_READ', 'no merged resourceVersion epoch can be persisted for this watch; retry shortly', {
      retryAfterSeconds: 1,
    });
    sendRefusal(res, err);
    return err.status;
  }
  // Taken after a roll this watch may have persisted itself, which must not end it.
  const table = ctx.routing.table;
  const fingerprint = ownershipFingerprint(table);
  const opened = await openWatches(ctx, prepared, start);
  const refused = opened.find((o): o is Extract<Opened, { ok: false }> => !o.ok);
  if (refused) {
    for (const o of opened) if (o.ok) o.body.destroy();
    passAnswer(res, refused.answer);
    return refused.answer.status;
  }
  const presenter = { present: (p: Position) => (codec.needsRoll(p.source, p.destination) ? undefined : codec.present(p.source, p.destination)) };
  const state = new MergedWatchState(table, position, presenter);
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
  res.flushHeaders();
  const bodies = opened.map((o) => (o as Extract<Opened, { ok: true }>).body);
  const stop = new AbortController();
  let finished = false;
  const finish = (why?: Step['end']) => {
    if (finished) return;
    finished = true;
    stop.abort();
    unregister();
    for (const body of bodies) body.destroy();
    if (!res.writableEnded) res.end();
    if (why === 'roll') {
      const at = state.current;
      ctx.mergedEpochs
        ?.roll(at.source, at.destination, ctx.routing.table.merged?.epochs.length ?? 0)
        .catch((err: unknown) => ctx.log.warn({ err: errorMessage(err) }, 'cannot persist a new merged epoch'));
    }
  };
  const unregister = ctx.activity.addWatch(prepared.decision.shard ?? '', () => finish());
  res.once('close', () => finish());
  opened.forEach((o) => {
    const { side, body } = o as Extract<Opened, { ok: true }>;
    const lines = new LineSplitter();
    body.on('data', (chunk: Buffer) => {
      try {
        lines.push(chunk, (line) => {
          if (finished || line.length === 0 || line.toString('utf8').trim() === '') return;
          const step = state.onEvent(side, parseJsonExact(line.toString('utf8')) as BackendEvent);
          // A position the stream reached is real: presented back (a resumed watch), it needs no quorum read.
          noteSourceRevision(ctx.clusters.source, state.current.source);
          if (step.send) res.write(goJsonBody(step.send));
          if (step.end) finish(step.end);
        });
      } catch (err) {
        ctx.log.warn({ err: errorMessage(err), side }, 'a merged watch read a bad line');
        finish();
      }
    });
    body.once('end', () => finish());
    body.once('error', () => finish());
    body.once('close', () => finish());
  });
  void closeOnOwnerChange(ctx, fingerprint, stop.signal, () => finish());
  return 200;
}

/** The stream ends when the namespace owners or merged epochs change (a replica that was not told by a hand-off learns it here). */
async function closeOnOwnerChange(ctx: ProxyContext, fingerprint: string, signal: AbortSignal, close: () => void): Promise<void> {
  while (!signal.aborted) {
    await ctx.routing.waitForChange(ctx.routing.table.generation, TABLE_POLL_MS, signal);
    if (signal.aborted) return;
    if (ownershipFingerprint(ctx.routing.table) !== fingerprint) return close();
  }
}
