/**
 * Which backend serves one request. Today every request goes to the configured upstream (the
 * aggregator); DESIGN.md section 3 plans sidecars that send source-owned shards straight to the
 * local source API server, so the choice is a pluggable, pure function of the request head.
 */

/** `upstream`: the configured BRIDGE_UPSTREAM (aggregator). `local`: the source API server. */
export type UpstreamTarget = 'upstream' | 'local';

export type SelectReason =
  /** The default: everything goes to the aggregator, which routes. */
  | 'default-upstream'
  /** A routing plan says the request's shard is owned by the source (planned). */
  | 'source-owned-shard';

export interface RequestHead {
  method: string;
  /** Path and query as the client sent it. */
  url: string;
}

export interface UpstreamChoice {
  target: UpstreamTarget;
  reason: SelectReason;
}

export interface UpstreamSelector {
  select(head: RequestHead): UpstreamChoice;
}

const TO_UPSTREAM: UpstreamChoice = Object.freeze({ target: 'upstream', reason: 'default-upstream' });

/** Sends everything to the configured upstream; allocation-free on the hot path. */
export const allToUpstream: UpstreamSelector = { select: () => TO_UPSTREAM };
