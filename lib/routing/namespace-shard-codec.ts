/**
 * A namespace shard's resourceVersion codec once merged RVs exist (ns-design section 3, docs/adr/0027):
 * a client that listed or watched a carried type cluster-wide holds merged RVs (at or above 2^62; a
 * merged watch's events carry the stream's position as the object's RV) and sends them back on
 * namespaced requests: a watch of one namespace from the list's RV, an update of an object from a
 * cluster-wide informer's cache. Such an RV decodes to the component of the namespace's owner: the
 * owner's revision at that position, which is the object's own revision for an object an event
 * delivered. Older merged epochs decode as older epochs (410 for reads, 409 for preconditions).
 * Below 2^62 the shard's own epochs decode as always. Never the identity: even a namespace that never
 * moved must map a merged RV before its backend sees it.
 */
import { MERGED_RV_BASE, type MergedRVCodec } from './merged-rv.js';
import { ShardRVCodec, type DecodedRV } from './resource-version.js';
import type { ShardState } from './types.js';

export class NamespaceShardRVCodec extends ShardRVCodec {
  constructor(
    state: ShardState,
    private readonly merged: MergedRVCodec,
  ) {
    super(state);
  }

  override get isIdentity(): boolean {
    return false;
  }

  override decode(presented: string): DecodedRV {
    if (!/^\d{1,19}$/.test(presented) || BigInt(presented) < MERGED_RV_BASE) return super.decode(presented);
    const decoded = this.merged.decode(presented);
    if (decoded.kind === 'current') return { kind: 'current', backendRV: String(this.state.owner === 'source' ? decoded.source : decoded.destination) };
    if (decoded.kind === 'older-epoch' || decoded.kind === 'ahead') return { kind: 'older-epoch', epoch: this.current.epoch };
    return { kind: 'invalid' };
  }
}
