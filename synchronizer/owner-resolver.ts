/**
 * Reads the facts lib/mirror/owner-references.ts decides on, for one shard mirror: the owner type's resource
 * (discovery of the owner's cluster, cached per API version) and the same-named object on each side.
 * API calls stay bounded: at most two GETs per distinct owner and pass (a full reconcile is one pass,
 * a watch event or a retry another); the replica's GET alone when it holds the owner's copy.
 */
import { BridgeError } from '../lib/errors.js';
import type { KubeObject, OwnerReference } from '../lib/kube/types.js';
import {
  decideOwner,
  ownerReferencesOf,
  remapOwnerReferences,
  type DeferReason,
  type OwnerDecision,
  type RemapResult,
} from '../lib/mirror/owner-references.js';
import type { KubeRestClient } from '../lib/kube/rest-client.js';
import { KindDiscovery, servedObjectPath } from '../lib/kube/kind-discovery.js';
import { shardKey } from '../lib/routing/shard-hash.js';
import type { ClusterSide, ShardKey } from '../lib/routing/types.js';

/** What the resolver needs of a MirrorSide (shard-mirror.ts): GETs only. */
export interface ReadSide {
  side: ClusterSide;
  rest: Pick<KubeRestClient, 'request'>;
}

/** A dependent held back until its owner's copy exists: retried like an object the replica refused. */
export class OwnerDeferred extends BridgeError {
  constructor(
    readonly reason: DeferReason,
    ref: OwnerReference,
    dependent: string,
  ) {
    const why = reason === 'owner-gone' ? 'is gone from the owner cluster' : 'has no copy in the replica cluster yet';
    super('BRIDGE_ERR_SYNC', `${dependent} waits for its owner ${ref.kind} ${ref.name} (uid ${ref.uid}), which ${why}`, {
      fix: 'nothing while the owner is being mirrored; otherwise read why the owner is not mirrored (sync status, its last error)',
    });
  }
}

export class OwnerResolver {
  private readonly discovery: KindDiscovery;
  /** Decisions that stay true for a pass (map, drop); deferrals are looked at again on every attempt. */
  private pass = new Map<string, OwnerDecision>();

  constructor(
    private readonly owner: ReadSide,
    private readonly replica: ReadSide,
    /** Every shard the synchronizer mirrors, in either direction. */
    private readonly mirrored: ReadonlySet<ShardKey>,
  ) {
    this.discovery = new KindDiscovery(owner.rest, owner.side);
  }

  /** Starts a new pass: what the last one learnt about owners may be stale now. */
  newPass(): void {
    this.pass = new Map();
  }

  /** The object's references remapped to the replica's UIDs (decisions per lib/mirror/owner-references.ts). */
  async remap(obj: KubeObject): Promise<RemapResult> {
    const refs = ownerReferencesOf(obj);
    const decisions: OwnerDecision[] = [];
    for (const ref of refs) {
      const decision = await this.decide(ref, obj.metadata.namespace);
      decisions.push(decision);
      if (decision.action === 'defer') break; // the dependent waits anyway: read no more
    }
    return remapOwnerReferences(refs.slice(0, decisions.length), decisions);
  }

  private async decide(ref: OwnerReference, namespace: string | undefined): Promise<OwnerDecision> {
    const key = [namespace ?? '', ref.apiVersion, ref.kind, ref.name, ref.uid].join('|');
    const known = this.pass.get(key);
    if (known) return known;
    const decision = await this.lookUp(ref, namespace);
    if (decision.action !== 'defer') this.pass.set(key, decision);
    return decision;
  }

  private async lookUp(ref: OwnerReference, namespace: string | undefined): Promise<OwnerDecision> {
    const served = await this.discovery.servedKind(ref.apiVersion, ref.kind);
    const group = ref.apiVersion.includes('/') ? ref.apiVersion.split('/')[0]! : '';
    const shard = served && shardKey(group, served.resource);
    if (!served || !this.mirrored.has(shard!)) return decideOwner(ref, { shard: undefined, replica: null });
    // A cluster-scoped dependent cannot name a namespaced owner: the garbage collector ignores such a reference.
    if (served.namespaced && !namespace) return { action: 'drop', reason: 'invalid-reference' };
    const path = servedObjectPath(ref.apiVersion, served, namespace, ref.name);
    const replica = await this.read(this.replica, path);
    const first = decideOwner(ref, { shard, replica });
    if (first.action === 'map') return first;
    return decideOwner(ref, { shard, replica, owner: await this.read(this.owner, path) });
  }

  private async read(side: ReadSide, path: string): Promise<KubeObject | null> {
    const got = await side.rest.request<KubeObject>('GET', path);
    if (got.status === 200) return got.body;
    if (got.status === 404) return null;
    throw new BridgeError('BRIDGE_ERR_SYNC', `reading an owner in the ${side.side} cluster: GET ${path} answered HTTP ${got.status}`);
  }
}
