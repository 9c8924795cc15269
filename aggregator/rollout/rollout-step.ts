/**
 * One decision of the rollout controller, as a pure function of the rollout, the routing table, the
 * gate evaluation and the time: the new status, the desired shard owners and the Events to emit.
 * The desired owners follow from the status alone (phase and stage), so a controller that dies after
 * persisting the status and before writing the owners is put right by whoever leads next.
 */
import { shardState } from '../../lib/routing/routing-table.js';
import { desiredOwner } from '../../lib/routing/shard-hash.js';
import type { ClusterSide, PlanStage, RoutingTable, ShardKey } from '../../lib/routing/types.js';
import {
  HISTORY_LIMIT,
  type BridgeRollout,
  type Condition,
  type GateEvaluation,
  type HistoryEntry,
  type RolloutCommandName,
  type RolloutPhase,
  type RolloutStatus,
  type ShardStatus,
} from './rollout-types.js';

export interface StepInput {
  rollout: BridgeRollout;
  /** The plan's shards: its type shards (spec.shards, else the synchronizer's) and the namespace shards of stageNamespaces. */
  shards: ShardKey[];
  /** Per stage, the namespace shards its `namespaces` selection resolved to (namespace-selection.ts). */
  stageNamespaces?: ShardKey[][];
  table: RoutingTable;
  gate: GateEvaluation | undefined;
  now: Date;
}

export interface RolloutEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface StepOutput {
  status: RolloutStatus;
  desiredOwners: Record<ShardKey, ClusterSide>;
  events: RolloutEvent[];
}

const DEFAULT_SOAK_SECONDS = 30;

/** A stage as desiredOwner reads it: its type shards, plus its namespace shards when it selects namespaces. */
export function planStage(rollout: BridgeRollout, index: number, stageNamespaces?: ShardKey[][]): PlanStage | undefined {
  const stage = rollout.spec.stages[index];
  if (!stage) return undefined;
  if (!stage.namespaces) return { name: stage.name, shards: stage.shards ?? ['*'], fraction: stage.fraction };
  const shards = stage.shards?.[0] === '*' ? (['*'] as ['*']) : [...(stage.shards ?? []), ...(stageNamespaces?.[index] ?? [])];
  return { name: stage.name, shards, fraction: stage.fraction };
}

/** Where each shard of the plan belongs in this status: every shard at the source while rolling back. */
export function ownersFor(
  rollout: BridgeRollout,
  shards: ShardKey[],
  status: Pick<RolloutStatus, 'phase' | 'stage'>,
  stageNamespaces?: ShardKey[][],
): Record<ShardKey, ClusterSide> {
  const back = status.phase === 'RollingBack' || status.phase === 'RolledBack';
  const stage = back ? undefined : planStage(rollout, status.stage, stageNamespaces);
  return Object.fromEntries(shards.map((shard) => [shard, desiredOwner(shard, stage)]));
}

/**
 * The shards the next stage moves that the source still serves: while a stage progresses, their reads
 * are shadowed (compared with the destination's answers) so a divergence shows before any client
 * depends on it. None while paused, rolling back or at the last stage.
 */
export function shardsAboutToMove(
  rollout: BridgeRollout,
  shards: ShardKey[],
  status: RolloutStatus,
  table: RoutingTable,
  stageNamespaces?: ShardKey[][],
): ShardKey[] {
  const next = status.phase === 'Progressing' ? planStage(rollout, status.stage + 1, stageNamespaces) : undefined;
  if (!next) return [];
  return shards.filter((shard) => desiredOwner(shard, next) === 'destination' && shardState(table, shard).owner === 'source');
}

function initialStatus(): RolloutStatus {
  return { phase: 'Pending', stage: -1, conditions: [], history: [] };
}

/** Works on a copy; `record` and `enterStage` keep history and the stage fields consistent. */
class Step {
  readonly events: RolloutEvent[] = [];
  readonly status: RolloutStatus;
  /** The step's time, RFC 3339. */
  readonly at: string;

  constructor(private readonly input: StepInput) {
    const previous = input.rollout.status;
    this.status = { ...initialStatus(), ...structuredClone(previous ?? {}) } as RolloutStatus;
    this.status.conditions ??= [];
    this.status.history ??= [];
    this.at = input.now.toISOString();
  }

  get rollout(): BridgeRollout {
    return this.input.rollout;
  }

  get lastStage(): number {
    return this.rollout.spec.stages.length - 1;
  }

  record(entry: Omit<HistoryEntry, 'at'>, event?: RolloutEvent): void {
    this.status.history = [...this.status.history, { at: this.at, ...entry }].slice(-HISTORY_LIMIT);
    if (event) this.events.push(event);
  }

  enterStage(index: number, why: string): void {
    const stage = this.rollout.spec.stages[index]!;
    Object.assign(this.status, { phase: 'Progressing', stage: index, stageName: stage.name, fraction: stage.fraction, stageStartedAt: this.at });
    delete this.status.stageReachedAt;
    this.status.message = `stage ${stage.name} (F=${stage.fraction}): moving shards (${why})`;
    this.record(
      { event: 'stage-started', stage: stage.name, fraction: stage.fraction, reason: why },
      { type: 'Normal', reason: 'StageStarted', message: this.status.message },
    );
  }

  startRollback(why: string): void {
    this.status.phase = 'RollingBack';
    delete this.status.stageReachedAt;
    this.status.message = `rolling back to the source: ${why}`;
    this.record(
      { event: 'rollback-started', stage: this.status.stageName, reason: why },
      { type: 'Warning', reason: 'RollingBack', message: this.status.message },
    );
  }

  setPhase(phase: RolloutPhase, message: string): void {
    this.status.phase = phase;
    this.status.message = message;
  }
}

const isBack = (phase: RolloutPhase) => phase === 'RollingBack' || phase === 'RolledBack';

/** Each manual command: why it cannot run now (undefined: it can), and what it does. */
const COMMANDS: Record<RolloutCommandName, { refusal: (step: Step) => string | undefined; act: (step: Step, by: string) => void }> = {
  advance: {
    refusal: ({ status, lastStage }) =>
      isBack(status.phase) ? `the rollout is ${status.phase}; resume it first` : status.stage >= lastStage ? 'already at the last stage' : undefined,
    act: (step, by) => {
      clearDegraded(step.status);
      step.enterStage(step.status.stage + 1, `manual advance${by}`);
    },
  },
  pause: {
    refusal: ({ status }) => (status.phase === 'Progressing' || status.phase === 'Pending' ? undefined : `nothing to pause: the rollout is ${status.phase}`),
    act: (step, by) => step.setPhase('Paused', `paused at stage ${step.status.stageName ?? '(none)'}${by}`),
  },
  resume: {
    refusal: ({ status }) => (status.phase === 'Paused' || status.phase === 'RolledBack' ? undefined : `nothing to resume: the rollout is ${status.phase}`),
    act: (step, by) => {
      clearDegraded(step.status);
      if (step.status.phase === 'RolledBack') step.enterStage(0, `resumed after rollback${by}`);
      else step.setPhase('Progressing', `resumed${by}`);
    },
  },
  rollback: {
    refusal: ({ status }) => (isBack(status.phase) ? `already ${status.phase}` : undefined),
    act: (step, by) => step.startRollback(`manual rollback${by}`),
  },
  finalize: {
    refusal: ({ status }) => (status.phase === 'Complete' ? undefined : `finalize needs a Complete rollout, this one is ${status.phase}`),
    act: (step) => {
      step.status.finalizedAt = step.at;
      step.status.message = 'finalized: every shard stays with the destination; rollback is no longer offered';
    },
  },
};

/** A manual command always wins over the gates and the soak, and is recorded whether it ran or not. */
function applyCommand(step: Step): void {
  const command = step.rollout.spec.command;
  const status = step.status;
  if (!command || command.id === status.lastCommandId) return;
  status.lastCommandId = command.id;
  const by = command.by ? ` by ${command.by}` : '';
  const handler = COMMANDS[command.name];
  const why = status.finalizedAt ? 'the rollout is finalized' : handler.refusal(step);
  if (why) {
    return step.record(
      { event: 'command-refused', stage: status.stageName, reason: `${command.name}${by}: ${why}`, commandId: command.id },
      { type: 'Warning', reason: 'CommandRefused', message: `${command.name}${by} refused: ${why}` },
    );
  }
  step.record(
    { event: `command-${command.name}`, stage: status.stageName, reason: `manual ${command.name}${by}`, commandId: command.id },
    { type: 'Normal', reason: 'ManualCommand', message: `${command.name}${by}` },
  );
  handler.act(step, by);
}

function clearDegraded(status: RolloutStatus): void {
  status.conditions = status.conditions.filter((c) => c.type !== 'Degraded');
}

function shardStatuses(table: RoutingTable, desired: Record<ShardKey, ClusterSide>): ShardStatus[] {
  return Object.entries(desired).map(([shard, want]) => {
    const state = shardState(table, shard);
    const epoch = state.epochs[state.epochs.length - 1]!;
    return { shard, owner: state.owner, desiredOwner: want, epoch: epoch.epoch, offset: epoch.offset, handoff: Boolean(state.handoff) };
  });
}

/** The gates are judged once every shard has its owner for the stage, until the rollout is finalized. */
function judgeGate(step: Step, gate: GateEvaluation | undefined): boolean {
  if (!gate?.breach) return false;
  const status = step.status;
  const why = `gate breached at stage ${status.stageName}: ${gate.breach}`;
  status.conditions = upsert(status.conditions, { type: 'Degraded', status: 'True', reason: 'GateBreached', message: why }, step.at);
  step.record(
    { event: 'gate-breached', stage: status.stageName, fraction: status.fraction, reason: gate.breach },
    { type: 'Warning', reason: 'GateBreached', message: why },
  );
  if ((step.rollout.spec.onBreach ?? 'Rollback') === 'Rollback') step.startRollback(why);
  else step.setPhase('Paused', `${why}; paused (onBreach: Pause)`);
  return true;
}

function advance(step: Step, reached: boolean, input: StepInput): void {
  const status = step.status;
  if (status.phase === 'Pending') return step.enterStage(0, 'rollout created');
  if (status.phase === 'RollingBack') {
    if (!reached) return;
    step.setPhase('RolledBack', `rolled back: every shard is served by the source (${status.message?.replace(/^rolling back to the source: /, '') ?? ''})`);
    step.record({ event: 'rolled-back', stage: status.stageName }, { type: 'Normal', reason: 'RolledBack', message: status.message! });
    return;
  }
  if ((status.phase !== 'Progressing' && status.phase !== 'Complete') || !reached || status.finalizedAt) return;
  if (!status.stageReachedAt) {
    status.stageReachedAt = input.now.toISOString();
    const seconds = (input.now.getTime() - Date.parse(status.stageStartedAt ?? status.stageReachedAt)) / 1000;
    step.record({ event: 'stage-reached', stage: status.stageName, fraction: status.fraction, seconds });
    if (status.phase === 'Progressing') status.message = `stage ${status.stageName} (F=${status.fraction}): soaking`;
  }
  if (judgeGate(step, input.gate) || status.phase === 'Complete') return;
  const soakMs = (step.rollout.spec.soakSeconds ?? DEFAULT_SOAK_SECONDS) * 1000;
  if (input.now.getTime() - Date.parse(status.stageReachedAt) < soakMs) return;
  step.record({ event: 'stage-soaked', stage: status.stageName, fraction: status.fraction });
  if (status.stage < step.lastStage) return step.enterStage(status.stage + 1, 'previous stage soaked with its gates green');
  step.setPhase('Complete', `complete at stage ${status.stageName} (F=${status.fraction}); gates keep watching until \`bridgectl finalize\``);
  step.record({ event: 'complete', stage: status.stageName }, { type: 'Normal', reason: 'Complete', message: status.message! });
}

/** Sets a condition; its lastTransitionTime moves only when its status changes. */
function upsert(conditions: Condition[], next: Omit<Condition, 'lastTransitionTime'>, now: string): Condition[] {
  const current = conditions.find((c) => c.type === next.type);
  const lastTransitionTime = current && current.status === next.status ? current.lastTransitionTime : now;
  return [...conditions.filter((c) => c.type !== next.type), { ...next, lastTransitionTime }];
}

/** Conditions that follow from the phase; Degraded is set by a breach and cleared by a manual command. */
function phaseConditions(step: Step): void {
  const { status } = step;
  const flag = (type: Condition['type'], on: boolean, reason: string) => {
    status.conditions = upsert(status.conditions, { type, status: on ? 'True' : 'False', reason, message: status.message ?? '' }, step.at);
  };
  const progressing = status.phase === 'Progressing' || status.phase === 'RollingBack';
  flag('Progressing', progressing, progressing ? (status.phase === 'RollingBack' ? 'RollingBack' : 'StageInProgress') : status.phase);
  flag('Paused', status.phase === 'Paused', status.phase === 'Paused' ? 'Paused' : 'NotPaused');
  flag('RolledBack', status.phase === 'RolledBack', status.phase === 'RolledBack' ? 'RolledBack' : 'NotRolledBack');
  flag('Complete', status.phase === 'Complete', status.phase === 'Complete' ? (status.finalizedAt ? 'Finalized' : 'Complete') : 'NotComplete');
  const order: Condition['type'][] = ['Progressing', 'Paused', 'RolledBack', 'Complete', 'Degraded'];
  status.conditions.sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type));
}

export function rolloutStep(input: StepInput): StepOutput {
  const step = new Step(input);
  applyCommand(step);
  const reachedOwners = (owners: Record<ShardKey, ClusterSide>) =>
    Object.entries(owners).every(([shard, owner]) => {
      const state = shardState(input.table, shard);
      return state.owner === owner && !state.handoff;
    });
  advance(step, reachedOwners(ownersFor(input.rollout, input.shards, step.status, input.stageNamespaces)), input);
  const desiredOwners = ownersFor(input.rollout, input.shards, step.status, input.stageNamespaces);
  step.status.shards = shardStatuses(input.table, desiredOwners);
  if (input.gate) step.status.gate = input.gate;
  step.status.observedGeneration = input.rollout.metadata.generation;
  phaseConditions(step);
  return { status: step.status, desiredOwners, events: step.events };
}
