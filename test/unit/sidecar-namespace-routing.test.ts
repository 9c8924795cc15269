// The sidecar's local routing with namespace shards (docs/adr/0026): decided by the same route() and
// codecs as the aggregator, so a source-owned namespace goes local (with its epoch's codec once it moved
// and came back), a destination-owned or held one and a merged cluster-wide read go to the aggregator,
// and the source never answers a merged read in the aggregator's place.
import { describe, expect, it } from '@jest/globals';
import { withNamespaceTypes } from '../../lib/routing/namespace-shards.js';
import { parseRequestInfo } from '../../lib/routing/request-info.js';
import { RoutingState } from '../../lib/routing/routing-state.js';
import { beginHandoff, completeHandoff, emptyRoutingTable } from '../../lib/routing/routing-table.js';
import type { RoutingTable } from '../../lib/routing/types.js';
import { localFallback } from '../../sidecar/local-fallback.js';
import { chooseUpstream, localEpoch, type TableView } from '../../sidecar/local-route-decision.js';

const NOW = new Date('2026-12-07T00:00:00Z');

/** `back` moved to the destination and came back; `moved` is at the destination; `held` is moving; `quiet` never moved. */
function table(): RoutingTable {
  let t = withNamespaceTypes(emptyRoutingTable(), ['configmaps', 'secrets']);
  t = completeHandoff(beginHandoff(t, 'namespace/back', 'destination', NOW), 'namespace/back', '500', NOW);
  t = completeHandoff(beginHandoff(t, 'namespace/back', 'source', NOW), 'namespace/back', '70', NOW);
  t = completeHandoff(beginHandoff(t, 'namespace/moved', 'destination', NOW), 'namespace/moved', '900', NOW);
  return beginHandoff(t, 'namespace/held', 'destination', NOW);
}

function view(t = table()): TableView {
  const routing = new RoutingState();
  routing.update(t, '1');
  return { routing, fresh: true };
}

const choose = (method: string, url: string, v = view()) => {
  const { codec, ...choice } = chooseUpstream(parseRequestInfo(method, url), v);
  return { ...choice, offset: codec?.current.offset };
};

describe('chooseUpstream with namespace shards', () => {
  it.each([
    ['GET', '/api/v1/namespaces/quiet/configmaps/c', { target: 'local', reason: 'source-owned-shard', shard: 'namespace/quiet', fenceable: false }],
    ['POST', '/api/v1/namespaces/quiet/secrets', { target: 'local', reason: 'source-owned-shard', shard: 'namespace/quiet', fenceable: true }],
    ['GET', '/api/v1/namespaces/moved/configmaps', { target: 'upstream', reason: 'destination-owned', shard: 'namespace/moved' }],
    ['PUT', '/api/v1/namespaces/held/configmaps/c', { target: 'upstream', reason: 'shard-handoff', shard: 'namespace/held' }],
    ['GET', '/api/v1/configmaps', { target: 'upstream', reason: 'namespaces-split' }],
    // Not carried: by its type shard, which never moved.
    ['GET', '/api/v1/namespaces/moved/services', { target: 'local', reason: 'source-owned-shard', shard: 'services', fenceable: false }],
  ])('%s %s', (method, url, expected) => {
    expect(choose(method, url)).toEqual({ ...expected, offset: undefined });
  });

  it("serves a namespace that came back locally with its epoch's offset, the aggregator's codec", () => {
    const v = view();
    const choice = chooseUpstream(parseRequestInfo('GET', '/api/v1/namespaces/back/configmaps/c'), v);
    expect(choice).toMatchObject({ target: 'local', reason: 'source-owned-offset', shard: 'namespace/back' });
    expect(choice.codec).toBe(v.routing.codec('namespace/back'));
    expect(choice.codec!.present('5')).toBe(String(5n + 500n + 70n + 2_000_000n));
  });
});

describe('a local cluster-wide watch of a type that becomes carried', () => {
  it('is local while no namespace moved, and not once the first namespace is held (the sidecar closes its local watches then)', () => {
    const before = view(emptyRoutingTable());
    expect(chooseUpstream(parseRequestInfo('GET', '/api/v1/configmaps?watch=true'), before)).toMatchObject({ target: 'local', shard: 'configmaps' });
    expect(localEpoch(before.routing, 'configmaps')).toBe(0);
    // The first namespace hold writes the carried types into the table.
    const held = view(beginHandoff(withNamespaceTypes(emptyRoutingTable(), ['configmaps', 'secrets']), 'namespace/app', 'destination', NOW));
    expect(localEpoch(held.routing, 'configmaps')).toBeUndefined();
    expect(chooseUpstream(parseRequestInfo('GET', '/api/v1/configmaps?watch=true'), held)).toMatchObject({ target: 'upstream', reason: 'namespaces-split' });
  });
});

describe('localFallback with namespace shards', () => {
  it.each([
    ['GET', '/api/v1/namespaces/quiet/configmaps', 'allowed'],
    ['GET', '/api/v1/namespaces/moved/configmaps', 'destination-owned'],
    ['GET', '/api/v1/namespaces/back/configmaps', 'shard-rv-offset'],
    ['GET', '/api/v1/configmaps?watch=true', 'namespaces-split'],
  ])('%s %s: %s', (method, url, expected) => {
    const verdict = localFallback(parseRequestInfo(method, url), view());
    expect(verdict.allowed ? 'allowed' : verdict.reason).toBe(expected);
  });
});
