/**
 * One shard mirrored one way, from its owner to the other side (DESIGN.md section 5). A watch on the
 * owner streams changes; a full reconcile (a consistent list of the owner against the replica) runs
 * at start, after every watch restart and for every catch-up question, so completeness never depends
 * on a watch having delivered everything. Watch events, retries and reconciles of a shard run one
 * after another, in order; within a full reconcile, up to RECONCILE_CONCURRENCY objects are written at
 * once, owners before dependents (write-order.ts). A replica object changed behind the synchronizer's
 * back is overwritten with the owner's version, counted and reported as an Event (lib/mirror/conflict.ts).
 */
import { errorMessage } from '../lib/errors.js';
import { kubeApiError } from '../lib/kube/rest-client.js';
import { listAllPages } from '../lib/kube/list-pages.js';
import { silenceLimitMs, WATCH_TIMEOUT_SECONDS } from '../lib/kube/list-watch.js';
import type { Logger } from '../lib/process/logger.js';
import type { ShardKey } from '../lib/routing/types.js';
import { finalizersAfterOwnerGone, isMirrorCopy, isSourceFirstPending, replicaCopy, sameContent, sameMirroredContent, skipReason } from '../lib/mirror/copy.js';
import { isApplied, sameManagedFields, withOwnerManagedFields } from '../lib/mirror/managed-fields.js';
import { type KubeObject, type OwnerReference } from '../lib/kube/types.js';
import { judgeReplica, ownWriteOf, type ConflictReason, type OwnWrite } from '../lib/mirror/conflict.js';
import { hasSourceStatus } from '../lib/mirror/workload-status.js';
import { OwnerDeferred, OwnerResolver } from './owner-resolver.js';
import { CrdNotEstablished, ensureEstablished } from './crd-readiness.js';
import { copySourceStatus } from './status-mirror.js';
import { conflictEvent } from './conflict-event.js';
import { LagWindow } from './lag-window.js';
import { asSynchronizer, objectPath, type MirrorCounters, type MirrorProgress, type MirrorSide, type ShardApi } from './mirror-side.js';
import { forEachLimited, ownerWaves, RECONCILE_CONCURRENCY } from './write-order.js';
import { wholeTypeScope, type MirrorScope } from './namespace-directions.js';
import { ReplicaOriginalKept, roleRefChanged } from '../lib/mirror/cluster-rbac.js';

export { mirrorSide, type MirrorCounters, type MirrorProgress, type MirrorSide, type ShardApi } from './mirror-side.js';

type Key = string;

const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 300_000;
const keyOf = (obj: KubeObject): Key => `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
const namespaceOfKey = (key: Key): string => key.slice(0, key.indexOf('/'));
/** Deleted with propagationPolicy=Orphan: its garbage collector removes the dependents' references instead of deleting them. */
const isOrphaning = (obj: KubeObject): boolean =>
  !!obj.metadata.deletionTimestamp && Array.isArray(obj.metadata.finalizers) && obj.metadata.finalizers.includes('orphan');

export class ShardMirror {
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;
  /**
   * Which namespaces this mirror copies, and two facts per namespace (namespace-directions.ts): a type
   * shard covers all of them; each of a carried type's two mirrors (one from each side) covers the
   * namespaces its owner side owns. Set by the synchronizer:
   * - sourceFirstMarksStale, for a mirror started while the source owns the shard and no hand-off runs:
   *   the aggregator makes source-first creates only while the destination owns it, and the hold drains
   *   them, so an object still marked as one lost its adoption (a refused write, then a hand-off that
   *   stopped the retry) and is mirrored as an original instead of never again;
   * - handedOverAtReplicaRV, for a destination-owned shard: the source's revision when it handed the
   *   shard over. That move's catch-up admitted no object the destination refused, so a source original
   *   not changed since (its resourceVersion at or below this) that the destination lacks was deleted
   *   there afterwards, even if this mirror never saw it (a synchronizer restarted in between).
   */
  scope: MirrorScope = wholeTypeScope();
  /** Namespaces this mirror took over (join()) and has not reconciled since: not known complete at syncedRV yet. */
  private readonly joining = new Set<string>();
  /**
   * Namespaces paused at their hand-off's catch-up (pauseNamespace()), and the owner revision they are
   * known complete at: their watch events and retries are dropped until the hand-off ends, as a paused
   * type shard's are; only a catch-up question's reconcile (`{ paused: true }`) still copies them.
   */
  private readonly pausedAt = new Map<string, bigint>();
  /** Set during a reconcile that includes the paused namespaces (a catch-up question's). */
  private reconcilingPaused = false;
  /** The owner revision of each namespace's last reconcile of its own (reconcile({ namespace })), which may be ahead of syncedRV. */
  private readonly namespaceSyncedAt = new Map<string, bigint>();
  /**
   * Set by the synchronizer for cluster RBAC (lib/mirror/cluster-rbac.ts): a replica object the mirror did not
   * write is the replica's own (its platform's, say) and is never overwritten nor deleted; one equal to
   * the owner's is adopted, one that differs is reported (ReplicaOriginalKept) and retried.
   */
  keepReplicaOriginals = false;
  /** Stopped at a hand-off's catch-up (pause()), not for good: the synchronizer replaces it once the hand-off ends. */
  private pausedAtHandoff = false;
  private watchAbort: (() => void) | undefined;
  /** Highest owner revision up to which the replica is known complete for this shard. */
  syncedRV = 0n;
  /** Objects seen on the owner, so a replica object gone from the owner's list may be deleted. */
  private readonly knownOnOwner = new Set<Key>();
  readonly direction: string;
  private readonly state: Omit<MirrorProgress, 'shard' | 'direction' | 'syncedRV' | 'pendingEvents' | 'oldestPendingMs' | 'lag'> = {
    phase: 'starting',
    total: 0,
    done: 0,
    initialSyncComplete: false,
    errors: {},
    conflicts: 0,
  };
  private readonly lagWindow = new LagWindow();
  /** The synchronizer's last acknowledged write of each replica object (lib/mirror/conflict.ts); memory only. */
  private readonly ownWrites = new Map<Key, OwnWrite>();
  /** The owner's resourceVersion whose managedFields were last written to each copy (ownershipDue); memory only. */
  private readonly ownershipWrittenFor = new Map<Key, string>();
  /** When each received, not yet applied watch event arrived (applied in arrival order). */
  private readonly pendingSince: number[] = [];
  /** The owner's objects this shard mirrors (a cluster's own objects excluded), and those whose last write failed. */
  private readonly mirroredKeys = new Set<Key>();
  private readonly failingKeys = new Set<Key>();
  /** Objects the replica refused, retried one by one with growing pauses (a full reconcile may be minutes away). */
  private readonly retries = new Map<Key, { attempt: number; timer: NodeJS.Timeout }>();
  /** Owner objects being deleted with propagationPolicy=Orphan, so their copies are deleted the same way. */
  private readonly orphaning = new Set<Key>();
  private readonly owners: OwnerResolver;

  constructor(
    readonly shard: ShardKey,
    private readonly api: ShardApi,
    readonly owner: MirrorSide,
    private readonly replica: MirrorSide,
    private readonly counters: MirrorCounters,
    private readonly log: Logger,
    /** Every shard the synchronizer mirrors: an ownerReference to another type is dropped from copies. */
    mirroredShards: ReadonlySet<ShardKey> = new Set([shard]),
  ) {
    this.direction = `${owner.side}->${replica.side}`;
    this.owners = new OwnerResolver(owner, replica, mirroredShards);
  }

  private get apiVersion(): string {
    return this.api.prefix.replace(/^\/apis?\//, '');
  }

  /** Runs `task` after every earlier write of this shard. */
  private serial<T>(task: () => Promise<T>): Promise<T> {
    const next = this.queue.then(task, task);
    this.queue = next.catch(() => undefined);
    return next;
  }

  start(): void {
    void this.runWatchLoop();
  }

  progress(now = Date.now()): MirrorProgress {
    // While reconciling: how far this pass got. Otherwise: what the owner holds now, and how much of it is on the replica.
    const counts =
      this.state.phase === 'reconciling'
        ? { total: this.state.total, done: this.state.done }
        : { total: this.mirroredKeys.size, done: this.mirroredKeys.size - this.failingKeys.size };
    return {
      shard: this.shard,
      direction: this.direction,
      ...this.state,
      ...counts,
      errors: { ...this.state.errors },
      lag: this.lagWindow.summary(),
      syncedRV: this.syncedRV.toString(),
      pendingEvents: this.pendingSince.length,
      oldestPendingMs: this.pendingSince.length ? now - this.pendingSince[0]! : 0,
    };
  }

  private failed(reason: string, err: unknown): void {
    this.counters.failed(this.shard, this.direction, reason);
    this.state.errors[reason] = (this.state.errors[reason] ?? 0) + 1;
    this.state.lastError = errorMessage(err);
  }

  /** The owner's objects whose last write to the replica failed (retried on their own and by every reconcile). */
  get failingObjects(): readonly string[] {
    return [...this.failingKeys];
  }

  get lastError(): string | undefined {
    return this.state.lastError;
  }

  get paused(): boolean {
    return this.pausedAtHandoff;
  }

  /**
   * Stops copying when a hand-off's catch-up is answered: the replica has every change the old owner
   * made before the hold, and until the synchronizer sees the hand-off end, anything more this mirror
   * copied would race the new owner's writes (the aggregator's source-first creates take values on
   * the source that the destination's own create then needs). Writes are held meanwhile, so there is
   * nothing to copy; a later catch-up question may still reconcile() a paused mirror.
   */
  pause(): void {
    this.stop();
    this.pausedAtHandoff = true;
    this.state.phase = 'paused';
  }

  stop(): void {
    this.stopped = true;
    this.watchAbort?.();
    for (const retry of this.retries.values()) clearTimeout(retry.timer);
    this.retries.clear();
  }

  /** Writes one refused object again after a pause that doubles per failure (1 s up to 5 min), from the owner's current copy. */
  private scheduleRetry(obj: KubeObject): void {
    const key = keyOf(obj);
    const attempt = (this.retries.get(key)?.attempt ?? -1) + 1;
    clearTimeout(this.retries.get(key)?.timer);
    const delayMs = Math.min(RETRY_BASE_MS * 2 ** attempt, RETRY_MAX_MS);
    const timer = setTimeout(() => {
      void this.serial(async () => {
        if (this.stopped || this.retries.get(key)?.timer !== timer) return;
        this.owners.newPass();
        const current = await this.owner.rest.request<KubeObject>('GET', objectPath(this.api, obj.metadata.namespace, obj.metadata.name));
        if (current.status === 404) return void this.retries.delete(key); // gone from the owner: nothing to mirror
        await this.apply(current.status === 200 ? current.body : obj);
      }).catch((err: unknown) => this.log.warn({ shard: this.shard, object: key, err: errorMessage(err) }, 'retry of a refused object failed'));
    }, delayMs);
    timer.unref();
    this.retries.set(key, { attempt, timer });
  }

  /**
   * For the mirror that replaces `previous` when its shard changes owner (or resumes in the same
   * direction after an aborted hand-off): the objects the old owner had are on this replica, and the
   * hand-off left both sides equal. One the new owner lacks at this
   * mirror's first list was deleted there after the hand-off, before this mirror watched; without this
   * memory the replica's object (an original, no mirror copy) would stay, and come back with the next
   * move.
   */
  inheritOwnerKeys(previous: ShardMirror): void {
    // Except what the old mirror never got across (the replica refused it): the new owner never had those.
    for (const key of previous.knownOnOwner) if (!previous.failingKeys.has(key)) this.knownOnOwner.add(key);
  }

  private covered(obj: KubeObject): boolean {
    const namespace = obj.metadata.namespace ?? '';
    return this.scope.covers(namespace) && (this.reconcilingPaused || !this.pausedAt.has(namespace));
  }

  /** The owner revision up to which `namespace`'s objects are known complete on the replica (0 until a namespace just joined is reconciled). */
  syncedRVOf(namespace: string): bigint {
    if (this.joining.has(namespace)) return 0n;
    const own = this.namespaceSyncedAt.get(namespace) ?? 0n;
    return this.pausedAt.get(namespace) ?? (own > this.syncedRV ? own : this.syncedRV);
  }

  /** failingObjects of one namespace. */
  failingIn(namespace: string): string[] {
    return this.failingObjects.filter((key) => namespaceOfKey(key) === namespace);
  }

  /**
   * A carried type's namespace this mirror stops covering (its owner changed, namespace-directions.ts):
   * forgets it, and returns the objects it knew on the old owner that reached the replica, for the
   * mirror that takes the namespace over (join()), as inheritOwnerKeys does for a whole type.
   */
  leave(namespace: string): Key[] {
    const inNamespace = (key: Key) => namespaceOfKey(key) === namespace;
    const handed = [...this.knownOnOwner].filter((key) => inNamespace(key) && !this.failingKeys.has(key));
    for (const set of [this.knownOnOwner, this.mirroredKeys, this.failingKeys, this.orphaning])
      for (const key of [...set]) if (inNamespace(key)) set.delete(key);
    for (const written of [this.ownWrites, this.ownershipWrittenFor]) for (const key of [...written.keys()]) if (inNamespace(key)) written.delete(key);
    for (const [key, retry] of [...this.retries]) {
      if (!inNamespace(key)) continue;
      clearTimeout(retry.timer);
      this.retries.delete(key);
    }
    this.joining.delete(namespace);
    this.pausedAt.delete(namespace);
    this.namespaceSyncedAt.delete(namespace);
    return handed;
  }

  /**
   * A namespace this mirror starts covering (turned around to this side, or resumed after an aborted
   * hand-off): its watch dropped the namespace's events until now, so a full reconcile runs before the
   * namespace counts as synced; `inherited` are the old owner's objects (leave()).
   */
  join(namespace: string, inherited: readonly Key[] = []): void {
    for (const key of inherited) this.knownOnOwner.add(key);
    this.pausedAt.delete(namespace);
    this.joining.add(namespace);
    if (this.stopped) return;
    this.reconcile({ namespace }).catch((err: unknown) => {
      // The watch loop's relist reconciles it, with its backoff.
      this.failed('list-or-watch', err);
      this.watchAbort?.();
    });
  }

  /**
   * pause() for one namespace of a carried type (namespace-directions.ts), when its hand-off's catch-up
   * is answered: known complete at the revision answered, nothing more copied until the hand-off ends
   * (leave(): turned around; join(): resumed after an abort).
   */
  pauseNamespace(namespace: string): void {
    this.pausedAt.set(namespace, this.syncedRVOf(namespace));
  }

  /**
   * Makes the replica equal to a consistent list of the owner; returns the list's revision. With
   * `paused`, a catch-up question's, the paused namespaces too (a later question may still reconcile
   * them, as a paused type shard's mirror). With `namespace`, that namespace only (a namespace shard's
   * catch-up, a namespace turned around): its list's revision says nothing of the others, so it
   * advances that namespace's syncedRVOf, not syncedRV.
   */
  reconcile(options: { paused?: boolean; namespace?: string } = {}): Promise<bigint> {
    return this.serial(async () => {
      this.reconcilingPaused = !!options.paused;
      try {
        return await this.reconcilePass(options.namespace);
      } finally {
        this.reconcilingPaused = false;
      }
    });
  }

  private async reconcilePass(namespace: string | undefined): Promise<bigint> {
    // A custom resource's copies need its CRD Established on the replica first (crd-readiness.ts).
    if (this.api.crd) await ensureEstablished(this.replica.rest, this.replica.side, this.api.crd);
    this.state.phase = 'reconciling';
    this.owners.newPass();
    // Namespaces that join during this pass are reconciled by the pass their join queued.
    const inPass = (ns: string) => namespace === undefined || ns === namespace;
    const joined = [...this.joining].filter(inPass);
    const paused = this.reconcilingPaused ? [...this.pausedAt.keys()].filter(inPass) : [];
    const ownerList = await this.listAll(this.owner, namespace);
    const replicaList = await this.listAll(this.replica, namespace);
    const replicaByKey = new Map(replicaList.items.map((o) => [keyOf(o), o]));
    this.state.total = ownerList.items.filter((o) => !skipReason(this.shard, o)).length;
    this.state.done = 0;
    for (const key of [...this.mirroredKeys]) if (inPass(namespaceOfKey(key))) this.mirroredKeys.delete(key);
    for (const obj of ownerList.items) this.knownOnOwner.add(keyOf(obj));
    // The replica's list is this pass's view of it: an object missing there is created without a GET first.
    for (const wave of ownerWaves(ownerList.items)) {
      await forEachLimited(wave, RECONCILE_CONCURRENCY, async (obj) => {
        await this.apply(obj, replicaByKey.get(keyOf(obj)) ?? null);
        if (!skipReason(this.shard, obj)) this.state.done++;
      });
    }
    for (const obj of ownerList.items) replicaByKey.delete(keyOf(obj));
    for (const key of this.failingKeys) if (!this.mirroredKeys.has(key)) this.failingKeys.delete(key);
    for (const [key, leftover] of replicaByKey) {
      if (skipReason(this.shard, leftover) || !this.covered(leftover)) continue; // covered: its namespace may have turned around since the list
      if (isMirrorCopy(leftover) || (!this.keepReplicaOriginals && (this.knownOnOwner.has(key) || this.unchangedSinceHandover(leftover))))
        await this.remove(leftover);
    }
    const rv = BigInt(ownerList.resourceVersion);
    this.passDone(namespace, rv, joined, paused);
    return rv;
  }

  /** What a reconcile at owner revision `rv` makes known: the shard's syncedRV or one namespace's; the namespaces it joined or refreshed while paused. */
  private passDone(namespace: string | undefined, rv: bigint, joined: readonly string[], paused: readonly string[]): void {
    if (namespace !== undefined) this.namespaceSyncedAt.set(namespace, rv);
    else if (rv > this.syncedRV) this.syncedRV = rv;
    for (const ns of joined) this.joining.delete(ns);
    for (const ns of paused) if (this.pausedAt.has(ns)) this.pausedAt.set(ns, rv);
    if (namespace === undefined) this.state.initialSyncComplete = true;
    this.state.phase = this.pausedAtHandoff ? 'paused' : 'watching';
  }

  private unchangedSinceHandover(replicaObj: KubeObject): boolean {
    const rv = replicaObj.metadata.resourceVersion;
    const handedOver = this.scope.handedOverAtReplicaRV(replicaObj.metadata.namespace ?? '');
    return handedOver !== undefined && !!rv && /^\d+$/.test(rv) && BigInt(rv) <= handedOver;
  }

  private async listAll(side: MirrorSide, namespace?: string): Promise<{ items: KubeObject[]; resourceVersion: string }> {
    const list = await listAllPages<KubeObject>(side.rest, objectPath(this.api, namespace));
    // List items carry no apiVersion and kind; watch events and GETs do: the same content either way.
    // Objects of namespaces this mirror does not cover are the other direction's, on both sides.
    const items = list.items
      .filter((item) => this.covered(item))
      .map((item) => ({ apiVersion: this.apiVersion, ...(this.api.kind ? { kind: this.api.kind } : {}), ...item }));
    return { items, resourceVersion: list.resourceVersion };
  }

  /** Creates the copy; when its namespace is missing in the replica (404 naming namespaces), creates that first. No read per object. */
  private async createCopy(obj: KubeObject, references: OwnerReference[]): Promise<KubeObject> {
    const collection = objectPath(this.api, obj.metadata.namespace);
    const body = replicaCopy(obj, undefined, references);
    let created = await this.replica.rest.request<KubeObject & { details?: { kind?: string } }>('POST', asSynchronizer(collection), body);
    if (created.status === 404 && this.api.namespaced && obj.metadata.namespace && created.body?.details?.kind === 'namespaces') {
      const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: obj.metadata.namespace } };
      await this.replica.rest.expect('POST', '/api/v1/namespaces', [201, 409], namespace);
      created = await this.replica.rest.request('POST', asSynchronizer(collection), body);
    }
    if (created.status !== 201) throw kubeApiError('POST', collection, created);
    return created.body;
  }

  /** Creates or overwrites the replica's copy; `written` false when the replica already holds the owner's content. */
  private async writeCopy(obj: KubeObject, replicaObj: KubeObject | null, references: OwnerReference[]): Promise<{ written: boolean; stored: KubeObject }> {
    const key = keyOf(obj);
    let current = replicaObj;
    const kept = !!current && this.keepReplicaOriginals && !isMirrorCopy(current);
    if (current && kept && !sameContent(obj, current, references))
      throw new ReplicaOriginalKept(this.api.kind ?? obj.kind ?? this.api.resource, obj.metadata.name, this.replica.side);
    // The aggregator's source-first object equals the destination's but for its mark: written anyway, which
    // adopts it; so is a kept original equal to the owner's.
    if (current && !kept && !isSourceFirstPending(current) && sameMirroredContent(obj, current, references)) {
      // An applied object's ownership can change alone (a second applier of the same values): written then, content unchanged.
      if (this.ownershipDue(obj, current)) return { written: true, stored: await this.writeOwnership(obj, current) };
      // Found equal to the owner's version: from now on, a change of its content is someone else's (also after a restart).
      this.remember(key, current);
      return { written: false, stored: current };
    }
    // A copy missing although remembered was deleted behind the synchronizer's back: a conflict, reported on the new copy.
    const verdict = judgeReplica(obj, current, this.ownWrites.get(key));
    const path = objectPath(this.api, obj.metadata.namespace, obj.metadata.name);
    // A binding's roleRef is immutable: a copy of an older binding of that name is deleted and created again.
    if (current && roleRefChanged(obj, current)) {
      await this.replica.rest.expect('DELETE', path, [200, 202, 404], {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        preconditions: { uid: current.metadata.uid },
      });
      current = null;
    }
    const written = current
      ? (
          await this.replica.rest.expect<KubeObject>(
            'PUT',
            asSynchronizer(path),
            [200],
            replicaCopy(obj, current.metadata.resourceVersion, references, current),
          )
        ).body
      : await this.createCopy(obj, references);
    // The write made the synchronizer the manager of what it wrote: a second one, changing nothing else, gives the appliers theirs back.
    const stored = this.ownershipDue(obj, written) ? await this.writeOwnership(obj, written) : written;
    this.remember(key, stored);
    this.counters.written(this.shard, this.direction, current ? 'update' : 'create');
    if (verdict.conflict) await this.reportConflict(obj, stored, verdict.reason);
    return { written: true, stored };
  }

  /**
   * Whether the copy's managedFields must be written again: the owner is applied, they differ, and they
   * were not written for this version of the owner already (a difference the API server keeps, whatever
   * it is, is written once per owner change, never in a loop).
   */
  private ownershipDue(owner: KubeObject, replica: KubeObject): boolean {
    if (!isApplied(owner) || sameManagedFields(owner, replica)) return false;
    const version = owner.metadata.resourceVersion ?? '';
    return this.ownershipWrittenFor.get(keyOf(owner)) !== version;
  }

  /**
   * Writes the owner's managedFields over a copy whose content already equals the owner's, the copy
   * otherwise exactly as stored (its mirror marks too): nothing else changes, so they are kept as sent.
   */
  private async writeOwnership(owner: KubeObject, replica: KubeObject): Promise<KubeObject> {
    this.ownershipWrittenFor.set(keyOf(owner), owner.metadata.resourceVersion ?? '');
    const path = objectPath(this.api, owner.metadata.namespace, owner.metadata.name);
    // The owner's apiVersion and kind: a replica object from a list may lack them, and a PUT body must name its kind.
    const body = withOwnerManagedFields({ ...replica, apiVersion: owner.apiVersion ?? replica.apiVersion, kind: owner.kind ?? replica.kind }, owner);
    const stored = (await this.replica.rest.expect<KubeObject>('PUT', asSynchronizer(path), [200], body)).body;
    this.remember(keyOf(owner), stored);
    this.counters.written(this.shard, this.direction, 'update');
    return stored;
  }

  /** While the source owns a workload shard, its copies get the source's status too (through `/status`; status-mirror.ts otherwise). */
  private async writeStatus(obj: KubeObject, stored: KubeObject): Promise<boolean> {
    if (this.owner.side !== 'source' || !hasSourceStatus(this.shard)) return false;
    const after = await copySourceStatus(this.replica.rest, this.api, obj, stored);
    if (after === stored) return false;
    this.remember(keyOf(obj), after);
    this.counters.written(this.shard, this.direction, 'update');
    return true;
  }

  private remember(key: Key, stored: KubeObject): void {
    const write = ownWriteOf(stored);
    if (write) this.ownWrites.set(key, write);
    else this.ownWrites.delete(key);
  }

  /** Counts a conflict and leaves a Warning Event on the replica's object as written (best effort: a refused Event is an error, not a failed write). */
  private async reportConflict(owner: KubeObject, written: KubeObject, reason: ConflictReason): Promise<void> {
    this.state.conflicts++;
    this.counters.conflict(this.shard, this.direction);
    const object = keyOf(owner);
    this.log.warn(
      { shard: this.shard, object, direction: this.direction, reason },
      "replica object changed behind the synchronizer; overwritten with the owner's version",
    );
    const apiVersion = this.apiVersion;
    const event = conflictEvent({
      shard: this.shard,
      owner: this.owner.side,
      replica: this.replica.side,
      apiVersion,
      kind: this.api.kind ?? owner.kind ?? this.api.resource,
      written,
      ownerResourceVersion: owner.metadata.resourceVersion ?? '',
      deleted: reason === 'deleted-since-own-write',
    });
    const path = `/api/v1/namespaces/${encodeURIComponent(event.metadata.namespace!)}/events`;
    const posted = await this.replica.rest.request('POST', path, event).catch((err: unknown) => ({ status: 0, body: { message: errorMessage(err) } }));
    if (posted.status !== 201) this.failed('conflict-event', kubeApiError('POST', path, posted));
  }

  private observeLag(seenAt: number): void {
    const ms = performance.now() - seenAt;
    this.lagWindow.add(ms);
    this.counters.lag(this.shard, this.direction, ms / 1000);
  }

  /**
   * Writes the owner's object to the replica unless it already holds the same content. `replicaObj`:
   * the replica's object from a list (null: none), read here when undefined. `seenAt`: when the watch
   * delivered the change (performance.now()), for the lag histogram.
   */
  private async apply(obj: KubeObject, replicaObj?: KubeObject | null, seenAt?: number): Promise<void> {
    if (!this.covered(obj)) return; // the other direction's (a watch event, a retry scheduled before the namespace turned around)
    if (isOrphaning(obj)) this.orphaning.add(keyOf(obj));
    else this.orphaning.delete(keyOf(obj));
    if (skipReason(this.shard, obj)) return;
    // A source-first create in progress (aggregator/request/source-first-create.ts): the aggregator writes the
    // destination's object itself. Only a mirror of the old direction, not yet turned around after a
    // hand-off, sees it on its owner side; copying it would take the nodePort the aggregator's create needs.
    if (isSourceFirstPending(obj) && !this.scope.sourceFirstMarksStale(obj.metadata.namespace ?? '')) return;
    this.mirroredKeys.add(keyOf(obj));
    const path = objectPath(this.api, obj.metadata.namespace, obj.metadata.name);
    let current = replicaObj;
    if (current === undefined) {
      const got = await this.replica.rest.request<KubeObject>('GET', path);
      current = got.status === 200 ? got.body : null;
    }
    try {
      // Owners before dependents: a copy is written only with every mirrored owner's copy in place.
      const owners = await this.owners.remap(obj);
      if (owners.deferred) throw new OwnerDeferred(owners.deferred.reason, owners.deferred.ref, keyOf(obj));
      const { written, stored } = await this.writeCopy(obj, current, owners.references);
      if (written) for (const { reason } of owners.dropped) this.counters.ownerReferenceDropped(this.shard, this.direction, reason);
      if (((await this.writeStatus(obj, stored)) || written) && seenAt !== undefined) this.observeLag(seenAt);
      this.failingKeys.delete(keyOf(obj));
      const retry = this.retries.get(keyOf(obj));
      if (retry) clearTimeout(retry.timer);
      this.retries.delete(keyOf(obj));
    } catch (err) {
      // Never silent, never blocking the rest: retried on its own with backoff (and by every reconcile).
      this.failingKeys.add(keyOf(obj));
      this.failed(err instanceof OwnerDeferred || err instanceof ReplicaOriginalKept ? err.reason : 'write', err);
      this.scheduleRetry(obj);
      this.log.warn({ shard: this.shard, object: keyOf(obj), direction: this.direction, err: errorMessage(err) }, 'cannot mirror an object; will retry');
    }
  }

  /**
   * Deletes the replica's object (its owner object is gone), with its UID as precondition so a newer
   * object of that name survives; first without the finalizers it got from the owner object, whose
   * controllers finished with them there (lib/mirror/copy.ts finalizersAfterOwnerGone).
   */
  private async remove(replicaObj: KubeObject, propagationPolicy?: 'Orphan'): Promise<boolean> {
    const path = objectPath(this.api, replicaObj.metadata.namespace, replicaObj.metadata.name);
    const finalizers = finalizersAfterOwnerGone(replicaObj);
    if (finalizers) {
      // An update (the verb the synchronizer has), with the object's resourceVersion: a newer object is left alone (409).
      const updated = await this.replica.rest.request('PUT', asSynchronizer(path), { ...replicaObj, metadata: { ...replicaObj.metadata, finalizers } });
      if (![200, 404, 409].includes(updated.status)) this.failed('finalizers', kubeApiError('PUT', path, updated));
    }
    const result = await this.replica.rest.request('DELETE', path, {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      preconditions: { uid: replicaObj.metadata.uid },
      ...(propagationPolicy ? { propagationPolicy } : {}),
    });
    const deleted = result.status === 200 || result.status === 202;
    if (deleted) this.counters.written(this.shard, this.direction, 'delete');
    else if (result.status !== 404 && result.status !== 409) this.failed(`delete-http-${result.status}`, new Error(`DELETE ${path}: HTTP ${result.status}`));
    this.knownOnOwner.delete(keyOf(replicaObj));
    this.ownWrites.delete(keyOf(replicaObj));
    this.ownershipWrittenFor.delete(keyOf(replicaObj));
    return deleted;
  }

  private async onEvent(type: string, obj: KubeObject, seenAt?: number): Promise<void> {
    const rv = obj.metadata.resourceVersion;
    this.owners.newPass();
    if (!this.covered(obj)) {
      // The other direction's: its mirror applies it (a copy this mirror wrote must never come back).
    } else if (type === 'ADDED' || type === 'MODIFIED') {
      this.knownOnOwner.add(keyOf(obj));
      await this.apply(obj, undefined, seenAt);
    } else if (type === 'DELETED') {
      this.mirroredKeys.delete(keyOf(obj));
      this.failingKeys.delete(keyOf(obj));
      this.ownWrites.delete(keyOf(obj));
      this.ownershipWrittenFor.delete(keyOf(obj));
      clearTimeout(this.retries.get(keyOf(obj))?.timer);
      this.retries.delete(keyOf(obj));
      const orphan = this.orphaning.delete(keyOf(obj));
      if (skipReason(this.shard, obj) === 'system-namespace' || skipReason(this.shard, obj) === 'cluster-own-object') return;
      const got = await this.replica.rest.request<KubeObject>('GET', objectPath(this.api, obj.metadata.namespace, obj.metadata.name));
      // The owner's garbage collector decided about the dependents: the replica's does the same.
      const removable = got.status === 200 && (!this.keepReplicaOriginals || isMirrorCopy(got.body));
      if (removable && (await this.remove(got.body, orphan ? 'Orphan' : undefined)) && seenAt !== undefined) this.observeLag(seenAt);
    }
    // Events arrive in revision order, so everything up to this one is applied (bookmarks included).
    if (rv && /^\d+$/.test(rv) && BigInt(rv) > this.syncedRV) this.syncedRV = BigInt(rv);
  }

  private async runWatchLoop(): Promise<void> {
    let backoffMs = 500;
    while (!this.stopped) {
      try {
        const listRV = await this.reconcile();
        backoffMs = 500;
        await this.watchFrom(listRV.toString());
      } catch (err) {
        if (this.stopped) return;
        this.state.phase = err instanceof CrdNotEstablished ? 'waiting-for-crd' : 'retrying';
        this.failed(err instanceof CrdNotEstablished ? err.reason : 'list-or-watch', err);
        this.log.warn({ shard: this.shard, direction: this.direction, err: errorMessage(err) }, 'mirror watch failed; relisting');
        await new Promise((resolve) => setTimeout(resolve, backoffMs).unref());
        backoffMs = Math.min(backoffMs * 2, 30_000);
      }
    }
  }

  /** Streams watch events until the server ends the watch (then the loop relists) or stop(). */
  private async watchFrom(resourceVersion: string): Promise<void> {
    const timeoutSeconds = String(WATCH_TIMEOUT_SECONDS);
    const query = new URLSearchParams({ watch: 'true', resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds });
    let pending: Promise<unknown> = Promise.resolve();
    let failed = false; // events queued after a failed one wait for the relist instead
    // A connection dead without a reset would keep the mirror waiting for ever: silent past the server's timeout, it relists.
    // An ERROR event (410 Gone) or a non-200 answer ends the watch with an error: the loop relists.
    const watch = await this.owner.rest.watch<KubeObject>(
      `${objectPath(this.api, undefined)}?${query}`,
      (event) => {
        this.pendingSince.push(Date.now());
        const seenAt = performance.now();
        // An event received before stop() but not yet applied is dropped: a paused mirror copies nothing more.
        // One that fails (a replica API server stalled past a call's deadline) ends the watch: the loop
        // relists and reconciles, which applies what failed and everything after it. Every event's
        // outcome is handled here: an unhandled rejection used to end the process (issue 21).
        pending = this.serial(() => (this.stopped || failed ? Promise.resolve() : this.onEvent(event.type, event.object, seenAt)))
          .catch((err: unknown) => {
            failed = true;
            watch.stop(err instanceof Error ? err : new Error(errorMessage(err)));
          })
          .finally(() => this.pendingSince.shift());
      },
      { silentMs: silenceLimitMs(WATCH_TIMEOUT_SECONDS) },
    );
    this.watchAbort = () => watch.stop();
    if (this.stopped) watch.stop();
    const err = await watch.ended;
    await pending;
    if (err) throw err;
  }
}
