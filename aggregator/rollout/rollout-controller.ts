/**
 * The rollout controller (patent 0121-0136): on the leading aggregator replica only, once a second,
 * it drives the oldest unfinished BridgeRollout in the system namespace. Order matters for safety:
 * the status (the decision, the manual command it consumed) is persisted first, with a
 * resourceVersion precondition, and only then the desired owners that follow from it, so a leader
 * that dies between the two leaves nothing a successor would do differently.
 */
import { randomBytes } from 'node:crypto';
import { canonicalJson } from '../../lib/canonical-json.js';
import { errorMessage } from '../../lib/errors.js';
import type { KubeRestClient } from '../../lib/kube/rest-client.js';
import type { Logger } from '../../lib/process/logger.js';
import { RepeatingTask } from '../../lib/process/repeating-task.js';
import { SYSTEM_NAMESPACE } from '../../lib/names.js';
import type { ShardKey } from '../../lib/routing/types.js';
import { writeDesiredOwners } from '../handoff/owner-reconciler.js';
import type { RoutingState } from '../../lib/routing/routing-state.js';
import type { GateWindow } from './gate-window.js';
import type { ShadowReads } from '../request/shadow-reads.js';
import { rolloutStep, shardsAboutToMove, type RolloutEvent } from './rollout-step.js';
import { planShards, resolveStageNamespaces, selectsNamespaces } from './namespace-selection.js';
import { DEFAULT_GATES, ROLLOUTS_PATH, type BridgeRollout, type RolloutStatus } from './rollout-types.js';

const INTERVAL_MS = 1000;
/** The gate numbers change every second; alone they are written at most this often. */
const GATE_ONLY_WRITE_MS = 5000;

export interface RolloutControllerDeps {
  destination: KubeRestClient;
  routing: RoutingState;
  gates: GateWindow;
  isLeader: () => boolean;
  /** The shards a plan without spec.shards moves (the synchronizer's). */
  defaultShards: ShardKey[];
  /** The source, where a plan's namespace selections are resolved (namespace-selection.ts); without it no namespace shard is planned. */
  source?: Pick<KubeRestClient, 'expect'>;
  /** The types namespace shards carry: never type shards of a plan that moves namespaces. */
  namespaceTypes?: readonly ShardKey[];
  /** Told each tick which shards' reads to shadow; nothing while this replica does not lead. */
  shadow?: Pick<ShadowReads, 'setPlan'>;
  log: Logger;
}

const terminal = (r: BridgeRollout) => Boolean(r.status?.finalizedAt);
const byAge = (a: BridgeRollout, b: BridgeRollout) =>
  (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || a.metadata.name.localeCompare(b.metadata.name);

export class RolloutController {
  private readonly task = new RepeatingTask(
    INTERVAL_MS,
    async () => {
      if (this.deps.isLeader()) await this.reconcileOnce();
      else this.deps.shadow?.setPlan([], 0);
    },
    (err) => this.deps.log.warn({ err: errorMessage(err) }, 'rollout reconcile failed; retrying'),
  );
  /** When each rollout's status was last written, so gate numbers alone are written at most every GATE_ONLY_WRITE_MS. */
  private lastWrite = new Map<string, number>();
  private warnedNoCrd = false;
  /** Status writes this replica made; tests check a standby makes none. */
  statusWrites = 0;

  constructor(private readonly deps: RolloutControllerDeps) {}

  start(): void {
    this.task.start();
  }

  stop(): void {
    this.task.stop();
  }

  async reconcileOnce(): Promise<void> {
    const { destination, log } = this.deps;
    const list = await destination.request<{ items: BridgeRollout[] }>('GET', ROLLOUTS_PATH);
    if (list.status === 404) {
      this.deps.shadow?.setPlan([], 0);
      if (!this.warnedNoCrd) log.warn('no BridgeRollout CRD in the destination: the rollout controller is idle (apply manifests/destination)');
      this.warnedNoCrd = true;
      return;
    }
    if (list.status !== 200) throw new Error(`listing bridgerollouts: HTTP ${list.status}`);
    const active = list.body.items.filter((r) => !terminal(r)).sort(byAge)[0];
    if (!active) return this.deps.shadow?.setPlan([], 0);
    const gates = { ...DEFAULT_GATES, ...active.spec.gates };
    const stageNamespaces =
      this.deps.source && selectsNamespaces(active) ? await resolveStageNamespaces(this.deps.source, active) : active.spec.stages.map(() => []);
    const shards = planShards(active, this.deps.defaultShards, this.deps.namespaceTypes ?? [], stageNamespaces);
    // Judged on the stage's steady state: what was answered after every shard had its owner.
    const since = active.status?.stageReachedAt ? Date.parse(active.status.stageReachedAt) : 0;
    const table = this.deps.routing.table;
    const out = rolloutStep({ rollout: active, shards, stageNamespaces, table, gate: this.deps.gates.evaluate(gates, since), now: new Date() });
    this.deps.shadow?.setPlan(shardsAboutToMove(active, shards, out.status, table, stageNamespaces), gates.shadowReadShare);
    if (!(await this.writeStatus(active, out.status))) return;
    if (await writeDesiredOwners(destination, out.desiredOwners)) log.info({ rollout: active.metadata.name, owners: out.desiredOwners }, 'desired owners set');
    for (const event of out.events) await this.emit(active, event);
  }

  /** PUT /status with the rollout's resourceVersion; false when someone changed it meanwhile (next tick sees it). */
  private async writeStatus(rollout: BridgeRollout, status: RolloutStatus): Promise<boolean> {
    const key = rollout.metadata.uid ?? rollout.metadata.name;
    const unchanged = canonicalJson({ ...status, gate: undefined }) === canonicalJson({ ...rollout.status, gate: undefined });
    if (unchanged && Date.now() - (this.lastWrite.get(key) ?? 0) < GATE_ONLY_WRITE_MS) return true;
    const body = { ...rollout, status };
    const path = `${ROLLOUTS_PATH}/${encodeURIComponent(rollout.metadata.name)}/status`;
    const written = await this.deps.destination.request('PUT', path, body);
    if (written.status === 409) return false;
    if (written.status !== 200)
      throw new Error(`writing ${rollout.metadata.name}'s status: HTTP ${written.status} ${JSON.stringify(written.body).slice(0, 300)}`);
    this.statusWrites++;
    this.lastWrite.set(key, Date.now());
    if (!unchanged)
      this.deps.log.info({ rollout: rollout.metadata.name, phase: status.phase, stage: status.stageName, message: status.message }, 'rollout status');
    return true;
  }

  /** A core/v1 Event on the rollout, as `kubectl describe bridgerollout` shows them. Best effort. */
  private async emit(rollout: BridgeRollout, event: RolloutEvent): Promise<void> {
    const at = new Date().toISOString();
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${rollout.metadata.name}.${randomBytes(6).toString('hex')}`, namespace: SYSTEM_NAMESPACE },
      involvedObject: {
        apiVersion: rollout.apiVersion,
        kind: rollout.kind,
        name: rollout.metadata.name,
        namespace: SYSTEM_NAMESPACE,
        uid: rollout.metadata.uid,
      },
      type: event.type,
      reason: event.reason,
      message: event.message.slice(0, 1024),
      source: { component: 'cluster-bridge-rollout' },
      firstTimestamp: at,
      lastTimestamp: at,
      count: 1,
    };
    const posted = await this.deps.destination.request('POST', `/api/v1/namespaces/${SYSTEM_NAMESPACE}/events`, body);
    if (posted.status !== 201) this.deps.log.warn({ status: posted.status, reason: event.reason }, 'could not record an Event on the rollout');
  }
}
