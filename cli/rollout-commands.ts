/**
 * The operator's rollout commands: `rollout plan` writes a BridgeRollout; `advance`, `pause`,
 * `resume`, `rollback` and `finalize` set its spec.command and wait until the controller has acted on
 * it (or refused it, which exits 1 with the controller's reason). The API server validates every plan
 * with the CRD's schema and CEL rules; its message is what the user sees.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import {
  ROLLOUT_API_VERSION,
  ROLLOUT_COMMANDS,
  ROLLOUT_KIND,
  ROLLOUTS_PATH,
  type BridgeRollout,
  type GateSpec,
  type NamespaceSelection,
  type RolloutCommandName,
  type RolloutSpec,
} from '../aggregator/rollout/rollout-types.js';
import { kubeconfigPath } from '../lab/lab-files.js';
import { BridgeError, errorMessage } from '../lib/errors.js';
import { parseFlags } from '../lib/process/flags.js';
import { KubeRestClient, usingClient } from '../lib/kube/rest-client.js';
import { SYSTEM_NAMESPACE } from '../lib/names.js';
import { namespaceShardProblem } from '../lib/routing/namespace-shards.js';
import { shardPosition } from '../lib/routing/shard-hash.js';
import { type Command, say } from './command.js';

export const DEFAULT_ROLLOUT_NAME = 'migration';
const NAME_PATTERN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** The destination's client: --kubeconfig, else the lab's destination. A missing file is one clear line. */
export function destinationClient(kubeconfig: string | undefined): KubeRestClient {
  return KubeRestClient.load(kubeconfig ?? kubeconfigPath('destination'));
}

/** Lists the rollouts; a destination without the CRD is named as such. */
export async function listRollouts(client: KubeRestClient): Promise<BridgeRollout[]> {
  const got = await client.request<{ items: BridgeRollout[] }>('GET', ROLLOUTS_PATH);
  if (got.status === 404) {
    throw new BridgeError('BRIDGE_ERR_ROLLOUT', 'the destination serves no BridgeRollout API', {
      fix: 'apply manifests/destination (or run `bridgectl lab install`) first',
    });
  }
  if (got.status !== 200) throw new BridgeError('BRIDGE_ERR_KUBE_API', `listing bridgerollouts: HTTP ${got.status}`);
  return got.body.items;
}

/** The named rollout, or (no name) the one the controller drives: the oldest not finalized. */
export async function findRollout(client: KubeRestClient, name: string | undefined): Promise<BridgeRollout> {
  const all = await listRollouts(client);
  const found = name
    ? all.find((r) => r.metadata.name === name)
    : all.filter((r) => !r.status?.finalizedAt).sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''))[0];
  if (!found) {
    throw new BridgeError(
      'BRIDGE_ERR_ROLLOUT',
      name ? `no BridgeRollout "${name}" in ${SYSTEM_NAMESPACE}` : `no unfinished BridgeRollout in ${SYSTEM_NAMESPACE}`,
      {
        fix: 'create one with `bridgectl rollout plan`',
      },
    );
  }
  return found;
}

function usage(command: string, problem: string, fix: string): BridgeError {
  return new BridgeError('BRIDGE_ERR_USAGE', `${command}: ${problem}`, { fix });
}

function checkName(command: string, name: string | undefined): string | undefined {
  if (name !== undefined && !NAME_PATTERN.test(name)) throw usage(command, `--name must be a DNS label, got "${name}"`, 'pass e.g. --name migration');
  return name;
}

/** A number flag within bounds, or undefined when absent. */
function numberFlag(command: string, flag: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max)
    throw usage(command, `--${flag} must be a number from ${min} to ${max}, got "${raw}"`, `pass e.g. --${flag} ${min}`);
  return value;
}

/** `--stages 1,5,25,50,100` (percent) -> stages named by their percentage. */
function stagesFromPercentages(raw: string): RolloutSpec['stages'] {
  return raw.split(',').map((part) => {
    const percent = Number(part.trim().replace(/%$/, ''));
    if (part.trim() === '' || !Number.isFinite(percent) || percent < 0 || percent > 100)
      throw usage('rollout plan', `--stages takes percentages from 0 to 100 separated by commas, got "${raw}"`, 'pass e.g. --stages 1,5,25,50,100');
    return { name: `${percent}%`, fraction: percent / 100 };
  });
}

/**
 * `--namespaces a,b`, `--namespace-selector team=a` or `--all-namespaces`: every stage moves those
 * namespaces as namespace shards (docs/adr/0026), each at hash(namespace), so F is the fraction of them.
 */
function namespaceSelectionFrom(flags: Record<string, string | boolean | undefined>): NamespaceSelection | undefined {
  const names = (flags.namespaces as string | undefined)
    ?.split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  const selector = flags['namespace-selector'] as string | undefined;
  const given = [names, selector, flags['all-namespaces'] || undefined].filter((x) => x !== undefined);
  if (given.length > 1) throw usage('rollout plan', '--namespaces, --namespace-selector and --all-namespaces exclude each other', 'pass one of them');
  for (const name of names ?? []) {
    const problem = namespaceShardProblem(name);
    if (problem) throw usage('rollout plan', `--namespaces: ${problem}`, 'name application namespaces');
  }
  if (names) return { names };
  if (selector !== undefined) return { selector };
  return flags['all-namespaces'] ? { all: true } : undefined;
}

/** The plan's gate flags: flag, spec.gates field, and the bounds the CRD allows. */
const GATE_FLAGS: [flag: string, key: keyof GateSpec, min: number, max: number][] = [
  ['window-seconds', 'windowSeconds', 2, 3600],
  ['min-requests', 'minRequests', 1, 1_000_000],
  ['max-error-rate-increase', 'maxErrorRateIncrease', 0, 1],
  ['max-latency-ratio', 'maxLatencyRatio', 1, 1000],
  ['shadow-read-share', 'shadowReadShare', 0, 1],
  ['min-shadow-reads', 'minShadowReads', 1, 1_000_000],
  ['max-divergence-rate', 'maxDivergenceRate', 0, 1],
];

function planFrom(flags: Record<string, string | boolean | undefined>): { name: string; spec: RolloutSpec } {
  const command = 'rollout plan';
  const str = (key: string) => flags[key] as string | undefined;
  let name = checkName(command, str('name'));
  let spec: RolloutSpec;
  if (str('file') !== undefined) {
    if (str('stages') !== undefined) throw usage(command, '--file and --stages both give the stages', 'pass one of them');
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(str('file')!, 'utf8'));
    } catch (err) {
      throw usage(command, `cannot read --file ${str('file')}: ${errorMessage(err).split('\n')[0]}`, 'pass a YAML or JSON BridgeRollout or spec');
    }
    const object = (parsed ?? {}) as { metadata?: { name?: string }; spec?: RolloutSpec } & RolloutSpec;
    spec = object.spec ?? object;
    name ??= object.metadata?.name;
    if (!Array.isArray(spec.stages)) throw usage(command, `--file ${str('file')} has no stages`, 'give spec.stages, a list of {name, fraction}');
  } else {
    spec = { stages: stagesFromPercentages(str('stages') ?? '1,5,25,50,100') };
  }
  const shards = str('shards')
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (shards) spec.shards = shards;
  const namespaces = namespaceSelectionFrom(flags);
  if (namespaces) spec.stages = spec.stages.map((stage) => ({ ...stage, namespaces }));
  const soak = numberFlag(command, 'soak-seconds', str('soak-seconds'), 0, 86_400);
  if (soak !== undefined) spec.soakSeconds = soak;
  const onBreach = str('on-breach');
  if (onBreach !== undefined) {
    if (onBreach !== 'rollback' && onBreach !== 'pause')
      throw usage(command, `--on-breach must be rollback or pause, got "${onBreach}"`, 'pass --on-breach rollback');
    spec.onBreach = onBreach === 'rollback' ? 'Rollback' : 'Pause';
  }
  const gates = GATE_FLAGS.map(([flag, key, min, max]) => [key, numberFlag(command, flag, str(flag), min, max)] as const);
  const given = Object.fromEntries(gates.filter(([, v]) => v !== undefined));
  if (Object.keys(given).length > 0) spec.gates = { ...spec.gates, ...given };
  return { name: name ?? DEFAULT_ROLLOUT_NAME, spec };
}

/** The API server's own words for a refused plan (the CRD's schema and CEL messages). */
function refusal(status: number, body: unknown): BridgeError {
  const message = (body as { message?: string } | undefined)?.message ?? `HTTP ${status}`;
  if (status === 422)
    return new BridgeError('BRIDGE_ERR_ROUTING', `the destination refused the plan: ${message}`, { fix: 'change the plan as the message says' });
  return new BridgeError('BRIDGE_ERR_KUBE_API', `writing the BridgeRollout: HTTP ${status}: ${message}`);
}

const plan: Command = {
  summary:
    'print and apply a BridgeRollout: [--stages 1,5,25,50,100 | --file PLAN.yaml] [--name migration] [--shards a,b] ' +
    '[--namespaces a,b | --namespace-selector team=a | --all-namespaces (namespace shards: F is the fraction of namespaces)] [--soak-seconds 30] ' +
    '[--on-breach rollback|pause] [--window-seconds 10] [--min-requests 20] [--max-error-rate-increase 0.05] [--max-latency-ratio 5] ' +
    '[--shadow-read-share 0.1] [--min-shadow-reads 10] [--max-divergence-rate 0.01] [--dry-run] [--replace] [--kubeconfig DEST]',
  async run(args) {
    const flags = parseFlags('rollout plan', args, {
      stages: { type: 'string' },
      file: { type: 'string' },
      name: { type: 'string' },
      shards: { type: 'string' },
      namespaces: { type: 'string' },
      'namespace-selector': { type: 'string' },
      'all-namespaces': { type: 'boolean' },
      'soak-seconds': { type: 'string' },
      'on-breach': { type: 'string' },
      ...Object.fromEntries(GATE_FLAGS.map(([flag]) => [flag, { type: 'string' as const }])),
      'dry-run': { type: 'boolean' },
      replace: { type: 'boolean' },
      kubeconfig: { type: 'string' },
    });
    const { name, spec } = planFrom(flags);
    await usingClient(destinationClient(flags.kubeconfig), async (client) => {
      const object = await applyPlan(client, name, spec, { replace: flags.replace, dryRun: flags['dry-run'] });
      process.stdout.write(toYaml(object));
      const names = spec.stages.find((st) => st.namespaces?.names)?.namespaces?.names;
      // Which namespaces each F moves: a namespace moves at every stage whose F is above its position.
      if (names) say(`namespace positions (moved once F is above): ${names.map((n) => `${n} ${shardPosition(n).toFixed(3)}`).join(', ')}`);
      say(flags['dry-run'] ? `plan "${name}" is valid (dry run: nothing applied)` : `plan "${name}" applied; follow it with \`bridgectl status --watch\``);
    });
  },
};

/**
 * Writes the BridgeRollout `name` with `spec`: validated first by a dry-run create (the CRD's schema
 * and CEL rules), so a bad plan replaces nothing; an existing rollout is replaced only when asked.
 */
export async function applyPlan(
  client: KubeRestClient,
  name: string,
  spec: RolloutSpec,
  options: { replace?: boolean; dryRun?: boolean } = {},
): Promise<BridgeRollout> {
  const object: BridgeRollout = { apiVersion: ROLLOUT_API_VERSION, kind: ROLLOUT_KIND, metadata: { name, namespace: SYSTEM_NAMESPACE }, spec };
  await listRollouts(client); // names a missing CRD before anything else
  const existing = await client.request<BridgeRollout>('GET', `${ROLLOUTS_PATH}/${name}`);
  if (existing.status === 200 && !options.replace) {
    throw new BridgeError('BRIDGE_ERR_WOULD_REPLACE', `BridgeRollout "${name}" exists (phase ${existing.body.status?.phase ?? 'Pending'})`, {
      fix: 'pass --replace to start it over with this plan, or --name for another rollout',
    });
  }
  const probe = existing.status === 200 ? { ...object, metadata: { ...object.metadata, name: `${name}-check` } } : object;
  const checked = await client.request('POST', `${ROLLOUTS_PATH}?dryRun=All`, probe);
  if (checked.status !== 201) throw refusal(checked.status, checked.body);
  if (options.dryRun) return object;
  if (existing.status === 200) await client.expect('DELETE', `${ROLLOUTS_PATH}/${name}`, [200, 202, 404]);
  const created = await client.request('POST', ROLLOUTS_PATH, object);
  if (created.status !== 201) throw refusal(created.status, created.body);
  return object;
}

/**
 * Sets the rollout's spec.command and waits for the controller's answer in its history: resolves with
 * the rollout once acted on, throws BRIDGE_ERR_ROLLOUT when refused or not answered in time.
 */
export async function sendRolloutCommand(
  client: KubeRestClient,
  rolloutName: string,
  commandName: RolloutCommandName,
  timeoutSeconds: number,
): Promise<BridgeRollout> {
  const id = `${commandName}-${randomBytes(4).toString('hex')}`;
  const path = `${ROLLOUTS_PATH}/${rolloutName}`;
  await client.expect('PATCH', path, [200], { spec: { command: { name: commandName, id, by: safeUserName() } } }, { patchType: 'merge' });
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const current = (await client.expect<BridgeRollout>('GET', path, [200])).body;
    const answer = current.status?.history?.filter((h) => h.commandId === id).at(-1);
    if (answer?.event === 'command-refused') throw new BridgeError('BRIDGE_ERR_ROLLOUT', `the controller refused ${answer.reason}`);
    if (answer) return current;
    if (Date.now() > deadline) {
      throw new BridgeError('BRIDGE_ERR_ROLLOUT', `no rollout controller acted on ${commandName} within ${timeoutSeconds} s (it stays queued)`, {
        fix: 'check that an aggregator runs and leads (its log says "leading"); the command is acted on when one does',
      });
    }
    await sleep(300);
  }
}

/** A top-level verb: the named (or the active) rollout gets the command; prints what the controller made of it. */
async function runCommand(commandName: RolloutCommandName, args: string[]): Promise<void> {
  const flags = parseFlags(commandName, args, { name: { type: 'string' }, kubeconfig: { type: 'string' }, 'timeout-seconds': { type: 'string' } });
  const name = checkName(commandName, flags.name);
  const timeoutSeconds = numberFlag(commandName, 'timeout-seconds', flags['timeout-seconds'], 1, 3600) ?? 30;
  await usingClient(destinationClient(flags.kubeconfig), async (client) => {
    const rollout = await findRollout(client, name);
    say(`${commandName}: sent to ${rollout.metadata.name}; waiting for the controller`);
    const current = await sendRolloutCommand(client, rollout.metadata.name, commandName, timeoutSeconds);
    process.stdout.write(`${rollout.metadata.name}: ${commandName} done; phase ${current.status?.phase}, stage ${current.status?.stageName ?? '-'}\n`);
  });
}

function safeUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

export const rolloutCommands: Record<string, Command> = { plan };

const describeCommand: Record<RolloutCommandName, string> = {
  advance: 'start the next stage now, without waiting for the soak',
  pause: 'hold the rollout at its stage (gates keep reporting)',
  resume: 'continue a paused rollout, or start a rolled-back one again from its first stage',
  rollback: 'move every shard back to the source (nothing acknowledged is lost)',
  finalize: 'end a complete rollout: the destination keeps every shard, rollback is no longer offered',
};

/** The top-level verbs, each `[--name NAME] [--kubeconfig DEST] [--timeout-seconds 30]`. */
export const rolloutVerbs: Record<string, Command> = Object.fromEntries(
  ROLLOUT_COMMANDS.map((name) => [
    name,
    { summary: `${describeCommand[name]} [--name] [--kubeconfig DEST] [--timeout-seconds 30]`, run: (args: string[]) => runCommand(name, args) },
  ]),
);
