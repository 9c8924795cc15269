/**
 * A model of two clusters behind the bridge for the merged resourceVersion's property test
 * (docs/adr/0025): each backend a sequence of revisions with writes in namespaces, the synchronizer's
 * copies to the non-owner, namespace hand-offs that append merged epochs with the revisions read after
 * the catch-up, and rolls. Only the codec is real (lib/routing/merged-rv.ts); this is what it encodes.
 */
import { appendMergedEpoch, MergedRVCodec, type KnownRevisions } from '../../lib/routing/merged-rv.js';
import { emptyRoutingTable, validateRoutingTable } from '../../lib/routing/routing-table.js';
import type { ClusterSide, RoutingTable } from '../../lib/routing/types.js';
import type { SeededRandom } from './seeded-random.js';

export type Position = KnownRevisions;

export interface ModelEvent {
  id: number;
  side: ClusterSide;
  rev: bigint;
  ns: string;
  name: string;
  /** The written content's id (a copy carries its original's); undefined: deleted. */
  content: number | undefined;
}

/** Object key -> content id: what a list returns and what an informer's cache holds. */
export type State = Map<string, number>;
export type Owners = ReadonlyMap<string, ClusterSide>;

export const NAMESPACES = ['a', 'b', 'c', 'd', 'e'];
const NAMES = ['x', 'y', 'z'];
const NOW = new Date('2026-12-07T12:00:00Z');

export const otherSide = (side: ClusterSide): ClusterSide => (side === 'source' ? 'destination' : 'source');

export class Backend {
  readonly log: ModelEvent[] = [];
  constructor(public rev: bigint) {}

  /** Index of the first event above `rev` (a watch from `rev` starts there). */
  after(rev: bigint): number {
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.log[mid]!.rev <= rev) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export class MergedWorld {
  readonly backends: Record<ClusterSide, Backend>;
  owners = new Map<string, ClusterSide>(NAMESPACES.map((ns) => [ns, 'source']));
  /** Each merged epoch's namespace owners (a roll keeps them, a hand-off flips one). */
  readonly epochOwners: Owners[] = [];
  table: RoutingTable = emptyRoutingTable();
  codec = new MergedRVCodec([]);
  /** The same table after JSON and validation, as another replica or a restart reads it. */
  reread = new MergedRVCodec([]);
  private pendingCopies: ModelEvent[] = [];
  private nextId = 1;
  handoffs = 0;
  rolls = 0;

  constructor(private readonly random: SeededRandom) {
    this.backends = { source: new Backend(1n + random.bits(33)), destination: new Backend(1n + random.bits(33)) };
  }

  get now(): Position {
    return { source: this.backends.source.rev, destination: this.backends.destination.rev };
  }

  get epoch(): number {
    return this.codec.current?.epoch ?? -1;
  }

  /** A revision step: mostly a few revisions (other types' writes), sometimes a big jump that brings a roll near. */
  private step(side: ClusterSide): bigint {
    const r = this.random;
    if (side === 'destination' && r.chance(0.08)) return 1n + r.bits(24);
    if (side === 'source' && r.chance(0.03)) return 1n + r.bits(20);
    return 1n + BigInt(r.int(3));
  }

  private append(side: ClusterSide, ns: string, name: string, content: number | undefined, small = false): ModelEvent {
    const backend = this.backends[side];
    backend.rev += small ? 1n + BigInt(this.random.int(3)) : this.step(side);
    const event: ModelEvent = { id: this.nextId++, side, rev: backend.rev, ns, name, content };
    backend.log.push(event);
    return event;
  }

  /** A client's write (create, update or delete) on the owner of a namespace, queued for the synchronizer. */
  write(exceptNs?: string, small = false): void {
    const r = this.random;
    const ns = r.pick(NAMESPACES.filter((n) => n !== exceptNs));
    const side = this.owners.get(ns)!;
    const event = this.append(side, ns, r.pick(NAMES), r.chance(0.2) ? undefined : this.nextId, small);
    this.pendingCopies.push(event);
  }

  /** The synchronizer copies some pending writes to the non-owner, in order (events its watchers must filter out). */
  mirror(count: number, onlyNs?: string): void {
    const taken = this.pendingCopies.filter((e, i) => (onlyNs === undefined ? i < count : e.ns === onlyNs));
    this.pendingCopies = this.pendingCopies.filter((e) => !taken.includes(e));
    for (const e of taken) this.append(otherSide(e.side), e.ns, e.name, e.content);
  }

  /** The codecs of a new table: the one this process holds, and one read back as another replica would. */
  private adopt(table: RoutingTable): void {
    this.table = table;
    this.codec = MergedRVCodec.forTable(table);
    this.reread = MergedRVCodec.forTable(validateRoutingTable(JSON.parse(JSON.stringify(table))));
    this.epochOwners.push(new Map(this.owners));
  }

  /**
   * A namespace's hand-off: writes of it held, the synchronizer catches it up, both revisions read,
   * writes of other namespaces go on, then the completing table write flips the owner and appends an
   * epoch at the revisions read. Returns the codec of the table before, and the revisions read.
   */
  handOff(ns: string): { before: MergedRVCodec; at: Position } {
    this.mirror(0, ns);
    const at = this.now;
    for (let i = this.random.int(4); i > 0; i--) this.write(ns, true);
    const before = this.codec;
    this.owners.set(ns, otherSide(this.owners.get(ns)!));
    this.adopt(appendMergedEpoch(this.table, at.source.toString(), at.destination.toString(), NOW));
    this.handoffs++;
    return { before, at };
  }

  /** A reader's destination delta would pass the headroom: a new epoch at the current revisions, owners unchanged. */
  roll(): void {
    this.adopt(appendMergedEpoch(this.table, this.now.source.toString(), this.now.destination.toString(), NOW));
    this.rolls++;
  }

  private ownedEvents(owners: Owners, from: Position | undefined, to: Position): ModelEvent[] {
    const events: ModelEvent[] = [];
    for (const side of ['source', 'destination'] as const) {
      const backend = this.backends[side];
      const start = from ? backend.after(from[side]) : 0;
      for (let i = start; i < backend.log.length && backend.log[i]!.rev <= to[side]; i++) {
        const e = backend.log[i]!;
        if (owners.get(e.ns) === side) events.push(e);
      }
    }
    return events;
  }

  /** What a list at `at` holds: every namespace's objects as its owner has them at its component of `at`. */
  stateAt(owners: Owners, at: Position): State {
    const state: State = new Map();
    // Per key only its namespace owner's events count, which come in revision order.
    for (const e of this.ownedEvents(owners, undefined, at)) {
      const key = `${e.ns}/${e.name}`;
      if (e.content === undefined) state.delete(key);
      else state.set(key, e.content);
    }
    return state;
  }

  /** The ids of the owned events in (from, to]: what a watch from `from` must have delivered by `to`. */
  ownedIds(owners: Owners, from: Position, to: Position): Set<number> {
    return new Set(this.ownedEvents(owners, from, to).map((e) => e.id));
  }
}
