/**
 * The position logic of a merged watch (ns-design section 3), pure so every case is unit-tested: the
 * stream's position is the pair (source revision, destination revision) of the last event or bookmark
 * read from each backend. Each backend delivers its events in revision order, so a client that resumes
 * from a presented position misses nothing and sees nothing twice: every event delivered had a
 * revision at or below its side's component, every one not yet delivered is above it.
 * - an event is kept iff its namespace is owned by the side it came from; kept or not, it advances the
 *   position, and a kept one presents the position after it as its object's RV;
 * - a bookmark of either backend becomes one bookmark with the position;
 * - with sendInitialEvents, the `k8s.io/initial-events-end` bookmark goes out only once both backends
 *   sent theirs (each backend's own is swallowed);
 * - an ERROR of either backend goes to the client and ends the stream.
 */
import type { ClusterSide, RoutingTable } from '../../lib/routing/types.js';
import { keptFrom } from './merged-ownership.js';

type Json = Record<string, unknown>;

export const INITIAL_EVENTS_END = 'k8s.io/initial-events-end';

export interface Position {
  source: bigint;
  destination: bigint;
}

export interface BackendEvent {
  type: string;
  object: Json;
}

/** What to do after one backend event: the event to send (if any), and whether the stream ends. */
export interface Step {
  send?: BackendEvent;
  end?: 'error' | 'roll';
}

export interface Presenter {
  /** The merged RV of a position, or undefined when the position needs a new merged epoch first. */
  present(position: Position): string | undefined;
}

function metadataOf(object: Json): Json {
  if (typeof object.metadata !== 'object' || object.metadata === null) object.metadata = {};
  return object.metadata as Json;
}

function revisionOf(object: Json): bigint | undefined {
  const rv = metadataOf(object).resourceVersion;
  return typeof rv === 'string' && /^\d+$/.test(rv) ? BigInt(rv) : undefined;
}

function isInitialEventsEnd(object: Json): boolean {
  const annotations = metadataOf(object).annotations as Json | undefined;
  return annotations?.[INITIAL_EVENTS_END] === 'true';
}

export class MergedWatchState {
  private readonly position: Position;
  private readonly initialEventsEnded = new Set<ClusterSide>();

  constructor(
    private readonly table: RoutingTable,
    start: Position,
    private readonly presenter: Presenter,
  ) {
    this.position = { ...start };
  }

  get current(): Position {
    return { ...this.position };
  }

  onEvent(side: ClusterSide, event: BackendEvent): Step {
    if (event.type === 'ERROR') return { send: event, end: 'error' };
    const revision = revisionOf(event.object);
    // Initial events (a watch from "" or "0") come in key order, not revision order: the position never goes down.
    if (revision !== undefined && revision > this.position[side]) this.position[side] = revision;
    if (event.type === 'BOOKMARK') return this.bookmark(side, event);
    const namespace = metadataOf(event.object).namespace;
    if (!keptFrom(this.table, side, typeof namespace === 'string' ? namespace : undefined)) return {};
    const presented = this.presenter.present(this.position);
    if (presented === undefined) return { end: 'roll' };
    // client-go's reflector resumes from the last event's object RV: it must be the stream's position.
    metadataOf(event.object).resourceVersion = presented;
    return { send: event };
  }

  private bookmark(side: ClusterSide, event: BackendEvent): Step {
    if (isInitialEventsEnd(event.object)) {
      this.initialEventsEnded.add(side);
      if (this.initialEventsEnded.size < 2) return {};
    }
    const presented = this.presenter.present(this.position);
    if (presented === undefined) return { end: 'roll' };
    metadataOf(event.object).resourceVersion = presented;
    return { send: event };
  }
}
