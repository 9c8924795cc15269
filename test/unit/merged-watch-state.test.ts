// The position logic of a merged watch (aggregator/request/merged-watch-state.ts): events of both
// backends, filtered by owner, each presenting the stream's position; bookmarks; the initial-events-end
// bookmark only after both backends sent theirs; ERROR ends the stream; a roll ends it.
import { describe, expect, it } from '@jest/globals';
import { INITIAL_EVENTS_END, MergedWatchState, type BackendEvent, type Position } from '../../aggregator/request/merged-watch-state.js';
import { MergedRVCodec } from '../../lib/routing/merged-rv.js';
import type { ClusterSide } from '../../lib/routing/types.js';
import { configMap, splitTable } from '../helpers/merged-fixtures.js';

const table = splitTable(['team-a'], { source: '1000', destination: '2000' });
const codec = new MergedRVCodec(table.merged!.epochs);
const presenter = { present: (p: Position) => (codec.needsRoll(p.source, p.destination) ? undefined : codec.present(p.source, p.destination)) };

const event = (type: string, ns: string, name: string, rv: string): BackendEvent => ({ type, object: configMap(ns, name, rv) });
const bookmark = (rv: string, initialEnd = false): BackendEvent => ({
  type: 'BOOKMARK',
  object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: rv, ...(initialEnd ? { annotations: { [INITIAL_EVENTS_END]: 'true' } } : {}) } },
});
const rvOf = (e: BackendEvent | undefined) => (e?.object.metadata as { resourceVersion: string }).resourceVersion;

describe('merged watch state', () => {
  it('keeps events by owner, advances the position with every event, presents non-decreasing merged RVs that decode to it', () => {
    const state = new MergedWatchState(table, { source: 1000n, destination: 2000n }, presenter);
    const feed: [ClusterSide, BackendEvent][] = [
      ['source', event('ADDED', 'team-b', 'b1', '1001')],
      ['destination', event('ADDED', 'team-a', 'a1', '2001')],
      ['destination', event('MODIFIED', 'team-b', 'b1', '2002')], // the destination's copy: dropped
      ['source', event('MODIFIED', 'team-a', 'a1', '1003')], // the source's copy of a moved namespace: dropped
      ['destination', event('ADDED', 'kube-system', 'x', '2004')], // the destination's system object: dropped
      ['source', event('DELETED', 'team-b', 'b1', '1005')],
    ];
    const sent = feed.map(([side, e]) => state.onEvent(side, e).send).filter((e) => e !== undefined);
    expect(sent.map((e) => `${e.type} ${(e.object.metadata as { name: string }).name}`)).toEqual(['ADDED b1', 'ADDED a1', 'DELETED b1']);
    const rvs = sent.map((e) => BigInt(rvOf(e)));
    expect(rvs).toEqual([...rvs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(rvs.every((rv) => rv < 2n ** 63n)).toBe(true);
    // The last event's RV is the position after every event read, dropped ones included.
    expect(codec.decode(rvOf(sent[2]))).toMatchObject({ kind: 'current', source: 1005n, destination: 2004n });
  });

  it('a watch resumed from any presented RV sees exactly the events after it', () => {
    const events: [ClusterSide, BackendEvent][] = [
      ['source', event('ADDED', 'team-b', 'b1', '1010')],
      ['destination', event('ADDED', 'team-a', 'a1', '2010')],
      ['source', event('ADDED', 'team-b', 'b2', '1011')],
      ['destination', event('ADDED', 'team-a', 'a2', '2012')],
    ];
    const first = new MergedWatchState(table, { source: 1000n, destination: 2000n }, presenter);
    const sent = events.map(([side, e]) => first.onEvent(side, structuredClone(e)).send!);
    for (let i = 0; i < sent.length; i++) {
      const at = codec.decode(rvOf(sent[i]));
      if (at.kind !== 'current') throw new Error('not current');
      // What both backends would send to watches opened from the decoded revisions.
      const after = events.filter(([side, e]) => BigInt(rvOf(e)) > (side === 'source' ? at.source : at.destination));
      expect(after.map(([, e]) => (e.object.metadata as { name: string }).name)).toEqual(
        events.slice(i + 1).map(([, e]) => (e.object.metadata as { name: string }).name),
      );
    }
  });

  it('initial events (key order) never move the position back', () => {
    const state = new MergedWatchState(table, { source: 1500n, destination: 2500n }, presenter);
    const a = state.onEvent('source', event('ADDED', 'team-b', 'z', '1400')).send!;
    const b = state.onEvent('source', event('ADDED', 'team-c', 'y', '1200')).send!;
    expect(rvOf(a)).toBe(codec.present(1500n, 2500n));
    expect(rvOf(b)).toBe(rvOf(a));
  });

  it('turns each backend bookmark into one bookmark with the position, and sends initial-events-end only after both', () => {
    const state = new MergedWatchState(table, { source: 1000n, destination: 2000n }, presenter);
    expect(state.onEvent('destination', bookmark('2020', true))).toEqual({});
    const plain = state.onEvent('source', bookmark('1030')).send!;
    expect(rvOf(plain)).toBe(codec.present(1030n, 2020n));
    const end = state.onEvent('source', bookmark('1040', true)).send!;
    expect(rvOf(end)).toBe(codec.present(1040n, 2020n));
    expect((end.object.metadata as { annotations: Record<string, string> }).annotations[INITIAL_EVENTS_END]).toBe('true');
  });

  it('passes an ERROR of either backend and ends the stream', () => {
    const state = new MergedWatchState(table, { source: 1000n, destination: 2000n }, presenter);
    const error = { type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } };
    expect(state.onEvent('destination', error)).toEqual({ send: error, end: 'error' });
  });

  it('ends the stream (for a new epoch) before presenting a position past the headroom', () => {
    const state = new MergedWatchState(table, { source: 1000n, destination: 2000n }, presenter);
    expect(state.onEvent('destination', event('ADDED', 'team-a', 'far', String(2000 + 2 ** 24)))).toEqual({ end: 'roll' });
  });
});
