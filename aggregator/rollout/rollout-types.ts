/**
 * The BridgeRollout resource (manifests/destination/bridgerollout-crd.yaml) as TypeScript sees it.
 * The CRD's schema and CEL rules are the validation; these types only mirror them.
 */
import { API_GROUP, API_VERSION, ROLLOUT_KIND, ROLLOUT_RESOURCE, SYSTEM_NAMESPACE } from '../../lib/names.js';
import type { ShardKey } from '../../lib/routing/types.js';

export const ROLLOUTS_PATH = `/apis/${API_GROUP}/${API_VERSION}/namespaces/${SYSTEM_NAMESPACE}/${ROLLOUT_RESOURCE}`;
export const ROLLOUT_API_VERSION = `${API_GROUP}/${API_VERSION}`;
export { ROLLOUT_KIND };

export const ROLLOUT_COMMANDS = ['advance', 'pause', 'resume', 'rollback', 'finalize'] as const;
export type RolloutCommandName = (typeof ROLLOUT_COMMANDS)[number];

export interface GateSpec {
  windowSeconds: number;
  minRequests: number;
  maxErrorRateIncrease: number;
  maxLatencyRatio: number;
  /** The share of reads of shards about to move that are also read from the destination and compared. */
  shadowReadShare: number;
  minShadowReads: number;
  maxDivergenceRate: number;
}

export const DEFAULT_GATES: GateSpec = {
  windowSeconds: 10,
  minRequests: 20,
  maxErrorRateIncrease: 0.05,
  maxLatencyRatio: 5,
  shadowReadShare: 0.1,
  minShadowReads: 10,
  maxDivergenceRate: 0.01,
};

/**
 * The namespaces a stage moves as namespace shards (docs/adr/0026), exactly one of: names, a label
 * selector (evaluated by the source API server), or every application namespace (not a system one).
 */
export interface NamespaceSelection {
  names?: string[];
  selector?: string;
  all?: boolean;
}

export interface RolloutStageSpec {
  name: string;
  /** Type shards. Absent: every shard of the plan (`['*']`), or none when the stage selects namespaces. */
  shards?: string[];
  /** Namespace shards taking part; each sits at hash(namespace name), so F is the fraction of these namespaces. */
  namespaces?: NamespaceSelection;
  fraction: number;
}

export interface RolloutSpec {
  shards?: ShardKey[];
  stages: RolloutStageSpec[];
  soakSeconds?: number;
  onBreach?: 'Rollback' | 'Pause';
  gates?: Partial<GateSpec>;
  command?: { name: RolloutCommandName; id: string; by?: string };
}

export type RolloutPhase = 'Pending' | 'Progressing' | 'Paused' | 'RollingBack' | 'RolledBack' | 'Complete';

export interface Condition {
  type: 'Progressing' | 'Paused' | 'RolledBack' | 'Complete' | 'Degraded';
  status: 'True' | 'False';
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export interface HistoryEntry {
  at: string;
  /** stage-started, stage-reached, stage-soaked, gate-breached, rolled-back, complete, command-<name>, command-refused */
  event: string;
  stage?: string;
  fraction?: number;
  reason?: string;
  /** For command-*: the id of spec.command, so `bridgectl` can find the controller's answer. */
  commandId?: string;
  /** For stage-reached: seconds from the stage's start until every shard had its owner. */
  seconds?: number;
}

export interface ShardStatus {
  shard: ShardKey;
  owner: string;
  desiredOwner: string;
  epoch: number;
  offset: string;
  handoff: boolean;
}

/** One backend over the gate window. */
export interface BackendWindow {
  requests: number;
  errors: number;
  errorRate: number;
  /** Over every request with a latency; for display. The gate compares `latency` group by group. */
  p99Ms: number;
  /** Per kind of request (get, list, write): how many, and the p99 bound in ms. */
  latency?: Record<'get' | 'list' | 'write', { count: number; p99Ms: number }>;
}

/** Shadow reads compared over the gate window, and how many of them diverged. */
export interface ShadowWindow {
  compared: number;
  divergent: number;
}

export interface GateEvaluation {
  windowSeconds: number;
  source: BackendWindow;
  destination: BackendWindow;
  shadow?: ShadowWindow;
  /** Set when a gate breached: which one and by how much, in words. */
  breach?: string;
  /** Set when the destination served too few requests to judge. */
  insufficient?: string;
}

export interface RolloutStatus {
  phase: RolloutPhase;
  stage: number;
  stageName?: string;
  fraction?: number;
  stageStartedAt?: string;
  stageReachedAt?: string;
  finalizedAt?: string;
  message?: string;
  observedGeneration?: number;
  lastCommandId?: string;
  conditions: Condition[];
  shards?: ShardStatus[];
  history: HistoryEntry[];
  gate?: GateEvaluation;
}

export interface BridgeRollout {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; uid?: string; resourceVersion?: string; generation?: number; creationTimestamp?: string };
  spec: RolloutSpec;
  status?: Partial<RolloutStatus>;
}

export const HISTORY_LIMIT = 50;
