/**
 * What the steps of one request hand each other (steps.ts), in the style of kcp's pkg/proxy handler
 * chain: each step has one job, takes the context the step before made and returns the next one, or
 * the refusal the client gets instead. Nothing reaches a backend before the last step.
 */
import type { IncomingMessage } from 'node:http';
import type { ClusterConnection } from '../../lib/kube/cluster-connection.js';
import type { BridgeError } from '../../lib/errors.js';
import type { Logger } from '../../lib/process/logger.js';
import type { ShardRVCodec } from '../../lib/routing/resource-version.js';
import type { RoutingState } from '../../lib/routing/routing-state.js';
import type { ClusterSide, RequestInfo, RouteDecision } from '../../lib/routing/types.js';
import type { ReplicaPresence } from '../handoff/replica-presence.js';
import type { ShardActivity } from '../handoff/shard-activity.js';
import type { ImpersonationRequest } from '../identity/identity.js';
import type { SourceAuthenticator } from '../identity/source-authenticator.js';
import type { AggregatorMetrics } from '../metrics.js';
import type { MergedEpochRoller } from './merged-epochs.js';
import type { ShadowReads } from './shadow-reads.js';

export interface ProxyContext {
  clusters: Record<ClusterSide, ClusterConnection>;
  /** Absent: no shadow reads (a replica that runs no rollout controller). */
  shadow?: ShadowReads;
  /** This replica's Lease (replica-presence.ts); shard writes are held while it is not fresh. */
  presence?: Pick<ReplicaPresence, 'isFresh'>;
  routing: RoutingState;
  auth: SourceAuthenticator;
  activity: ShardActivity;
  metrics: AggregatorMetrics;
  log: Logger;
  /** Persists a new merged resourceVersion epoch (merged-epochs.ts); absent: merged reads that need one answer 503. */
  mergedEpochs?: MergedEpochRoller;
}

/** parse: the request line read, and what the identity headers ask for. */
export interface Parsed {
  req: IncomingMessage;
  info: RequestInfo;
  /** 'malformed': impersonation headers the source's filter refuses with 400 (the source answers them). */
  impersonation: ImpersonationRequest | 'malformed' | undefined;
}

/** route: the backend chosen by the routing table. */
export interface Routed {
  req: IncomingMessage;
  info: RequestInfo;
  /** The client's Impersonate-* request, if any (authorized only when the destination is the target). */
  impersonation: ImpersonationRequest | undefined;
  decision: RouteDecision & { target: ClusterSide };
  cluster: ClusterConnection;
}

/** authenticate: the impersonation headers that carry the caller to the destination (none toward the source). */
export interface Authenticated extends Routed {
  impersonate: string[];
}

/** rewrite, and the request the aggregator has decided on: where, as whom, with which path and headers. */
export interface Prepared extends Routed {
  codec: ShardRVCodec | undefined;
  path: string;
  headers: string[];
  /** The request's headers rebuilt for a rewritten body of `length` bytes. */
  headersForBody(length: number): string[];
  /** Backend UIDs the request's body was mapped to, and the UIDs the client presented (write-identity.ts), for the answer. */
  uids?: ReadonlyMap<string, string>;
}

/**
 * A cluster-wide list or watch of a carried type whose namespaces are split (route target `merged`),
 * answered from both backends (merged-read.ts): authenticated for the destination, the source gets the
 * caller's own credentials.
 */
export interface MergedRouted {
  merged: true;
  req: IncomingMessage;
  info: RequestInfo;
  decision: RouteDecision & { target: 'merged' };
  impersonation: ImpersonationRequest | undefined;
}

export interface MergedPrepared extends MergedRouted {
  /** The impersonation headers that carry the caller to the destination. */
  impersonate: string[];
}

export function isMerged<T extends MergedRouted>(outcome: object): outcome is T {
  return 'merged' in outcome;
}

/**
 * Why a request goes no further, answered by refusals.ts: a Status as its error code declares
 * (lib/errors.ts); Go's own 400 for a request line kube-apiserver never sees; or an RV of an older
 * epoch, answered as a compacted one (410, or an ERROR event in a watch).
 */
export type Refusal =
  | { kind: 'status'; error: BridgeError }
  | { kind: 'go-bad-request' }
  | { kind: 'expired'; verb: string; query: { expiredRV: string; continueToken?: true }; epochStart: string };

export interface Refused {
  refused: Refusal;
}

export function isRefused(outcome: object): outcome is Refused {
  return 'refused' in outcome;
}

export function refusedWith(error: BridgeError): Refused {
  return { refused: { kind: 'status', error } };
}
