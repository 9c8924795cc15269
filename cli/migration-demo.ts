/**
 * The migration part of `bridgectl demo`: workloads keep calling the API through the lab's sidecar
 * (a client-node writer and reader, python3-kubernetes writing Secrets, kubectl `get -A` in a loop, a
 * controller on a cluster-wide client-node informer) in 24 application namespaces (demo-namespaces.ts)
 * while a BridgeRollout moves their namespace shards to the destination in canary stages (F = 0% with
 * shadow reads only, 1%, 5%, 25%, 50%, 100%, each namespace's owner decided by the fixed hash of its
 * name), driven by the aggregator's rollout controller, and back (`bridgectl rollback`, F = 0). Once
 * the namespaces are split, the cluster-wide reads are merged from both clusters. With `--fault` the
 * destination fails mid-way and the controller rolls back on its own. The closing report counts calls,
 * errors, objects per cluster, the namespaces each stage moved, time per stage, write pauses per
 * hand-off, shadow reads, the informer's relists and lost writes (must be 0).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import { LAB_APPS_NAMESPACE } from '../lab/install-context.js';
import { kubeconfigPath } from '../lab/lab-files.js';
import type { DaemonRecord } from '../lab/process.js';
import { ROLLOUTS_PATH, type BridgeRollout, type HistoryEntry, type RolloutSpec } from '../aggregator/rollout/rollout-types.js';
import { injectWebhookFault, removeWebhookFault } from '../lab/webhook-fault.js';
import { BridgeError, errorMessage } from '../lib/errors.js';
import { KubeRestClient } from '../lib/kube/rest-client.js';
import { labDir } from '../lib/process/paths.js';
import { DEMO_SEEN_ANNOTATION } from '../lib/names.js';
import { namespaceOfShard } from '../lib/routing/shard-hash.js';
import { say } from './command.js';
import { prepareDemoNamespaces } from './demo-namespace-setup.js';
import { DEMO_NAMESPACES, DEMO_NAMESPACE_LABEL, describePositions, namespacesMovedAt } from './demo-namespaces.js';
import { applyPlan, sendRolloutCommand } from './rollout-commands.js';
import { progressBar } from './sync-status.js';

const ROLLOUT_NAME = 'demo';
const STAGE_TIMEOUT_MS = 120_000;
const SOAK_SECONDS = 3;

/** Each run's objects carry its id, so a second demo on the same lab starts clean. */
const RUN = randomBytes(3).toString('hex');
const RUN_SELECTOR = `app=demo,run=${RUN}`;

interface Tally {
  calls: number;
  errors: string[];
  /** `kind/namespace/name` of objects whose create was acknowledged (2xx). */
  written: Set<string>;
}

/** The demo namespace a workload's i-th write goes to: round robin, so every stage's moved namespaces take writes. */
const namespaceFor = (i: number) => DEMO_NAMESPACES[i % DEMO_NAMESPACES.length]!;

/** Writes and reads ConfigMaps through the sidecar as a client-node controller would, until stopped. */
async function clientNodeWorkload(kubeconfig: string, tally: Tally, stop: () => boolean): Promise<void> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const api = kc.makeApiClient(k8s.CoreV1Api);
  for (let i = 0; !stop(); i++) {
    const name = `demo-${RUN}-cm-${i}`;
    const namespace = namespaceFor(i);
    tally.calls += 2;
    try {
      await api.createNamespacedConfigMap({
        namespace,
        body: { metadata: { name, labels: { app: 'demo', run: RUN } }, data: { i: String(i) } },
      });
      tally.written.add(`configmap/${namespace}/${name}`);
      await api.listNamespacedConfigMap({ namespace, labelSelector: RUN_SELECTOR, limit: 50 });
    } catch (err) {
      // A hand-off answers 503 + Retry-After; client-node does not retry writes, a controller would.
      const code = (err as { code?: number }).code;
      if (code === 503) {
        tally.calls--;
        await sleep(300);
      } else tally.errors.push(`client-node ${name}: ${errorMessage(err).split('\n')[0]}`);
    }
    await sleep(100);
  }
}

/**
 * A small controller as in-cluster code writes them: a client-node informer (list, then watch) on the
 * run's ConfigMaps of all namespaces (merged from both clusters once the namespaces are split) and a
 * work queue that marks each one seen with an update carrying the informer's resourceVersion (a merged
 * RV, which the aggregator maps back to the namespace owner's revision). Hand-offs close its watch and
 * older-epoch resourceVersions get 410, so it relists, as client-go controllers do; a conflict (409) or
 * a held write (503) puts the item back in the queue.
 */
class SeenController {
  private readonly queue = new Set<string>();
  private informer: (k8s.Informer<k8s.V1ConfigMap> & k8s.ObjectCache<k8s.V1ConfigMap>) | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;
  relists = 0;
  marked = 0;

  constructor(
    private readonly kubeconfig: string,
    private readonly tally: Tally,
  ) {}

  async start(): Promise<void> {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(this.kubeconfig);
    const api = kc.makeApiClient(k8s.CoreV1Api);
    const informer = k8s.makeInformer(
      kc,
      '/api/v1/configmaps',
      () => {
        this.relists++;
        this.tally.calls++;
        return api.listConfigMapForAllNamespaces({ labelSelector: RUN_SELECTOR });
      },
      RUN_SELECTOR,
    );
    const enqueue = (cm: k8s.V1ConfigMap) => {
      if (!cm.metadata?.annotations?.[DEMO_SEEN_ANNOTATION]) this.queue.add(`${cm.metadata!.namespace!}/${cm.metadata!.name!}`);
    };
    informer.on('add', enqueue);
    informer.on('update', enqueue);
    informer.on('error', () => setTimeout(() => !this.stopped && void informer.start().catch(() => undefined), 300));
    this.informer = informer;
    await informer.start();
    this.loop = this.work(api);
  }

  private async work(api: k8s.CoreV1Api): Promise<void> {
    while (!this.stopped) {
      const key = this.queue.values().next().value;
      if (key === undefined) {
        await sleep(100);
        continue;
      }
      this.queue.delete(key);
      const [namespace, name] = key.split('/') as [string, string];
      const cached = this.informer!.get(name, namespace);
      if (!cached || cached.metadata?.annotations?.[DEMO_SEEN_ANNOTATION]) continue;
      const body = { ...cached, metadata: { ...cached.metadata, annotations: { ...cached.metadata?.annotations, [DEMO_SEEN_ANNOTATION]: 'true' } } };
      this.tally.calls++;
      try {
        await api.replaceNamespacedConfigMap({ name, namespace, body });
        this.marked++;
      } catch (err) {
        const code = (err as { code?: number }).code;
        // A stale cache (409) or a hand-off (503): the informer brings the newer copy; try again then.
        if (code === 409 || code === 503) this.queue.add(key);
        else this.tally.errors.push(`controller ${key}: ${errorMessage(err).split('\n')[0]}`);
        await sleep(code === 503 ? 300 : 50);
      }
    }
  }

  /** Waits until the queue is empty and every ConfigMap it holds is marked, then stops. */
  async drainAndStop(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    const unmarked = () => (this.informer?.list() ?? []).filter((c) => !c.metadata?.annotations?.[DEMO_SEEN_ANNOTATION]).length;
    while (Date.now() < deadline && (this.queue.size > 0 || unmarked() > 0)) await sleep(200);
    this.stopped = true;
    await this.informer?.stop();
    await this.loop;
    return unmarked();
  }
}

/** python3-kubernetes creating Secrets through the sidecar; prints one line per acknowledged write. */
function pythonWorkload(kubeconfig: string, tally: Tally): ChildProcess {
  const script = `
import sys, time
from kubernetes import client, config
from kubernetes.client.rest import ApiException
api = client.CoreV1Api(config.new_client_from_config(config_file=sys.argv[1]))
namespaces = sys.argv[2].split(",")
i = 0
while True:
    name = "demo-%s-secret-%d" % (sys.argv[3], i)
    namespace = namespaces[i % len(namespaces)]
    try:
        api.create_namespaced_secret(namespace, client.V1Secret(metadata=client.V1ObjectMeta(name=name, labels={"app": "demo", "run": sys.argv[3]}), string_data={"i": str(i)}))
        print("ok %s/%s" % (namespace, name), flush=True)
        i += 1
    except ApiException as e:
        if e.status == 503:
            time.sleep(0.3)
            continue
        print("error %s/%s %s %s" % (namespace, name, e.status, e.reason), flush=True)
        i += 1
    time.sleep(0.15)
`;
  const child = spawn('/usr/bin/python3', ['-c', script, kubeconfig, DEMO_NAMESPACES.join(','), RUN], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    for (const line of chunk.split('\n').filter(Boolean)) {
      tally.calls++;
      if (line.startsWith('ok ')) tally.written.add(`secret/${line.slice(3)}`);
      else tally.errors.push(`python3-kubernetes: ${line}`);
    }
  });
  return child;
}

/** kubectl reading all namespaces through the sidecar in a loop, as a CI job would (merged once the namespaces are split). */
async function kubectlWorkload(kubeconfig: string, tally: Tally, stop: () => boolean): Promise<void> {
  while (!stop()) {
    tally.calls++;
    let stderr = '';
    const code = await new Promise<number>((resolve) => {
      const child = spawn('kubectl', ['--kubeconfig', kubeconfig, 'get', 'configmaps,secrets', '-A', '-l', RUN_SELECTOR, '-o', 'name'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child.stderr.on('data', (chunk: Buffer) => (stderr = `${stderr}${chunk.toString('utf8')}`.slice(-2000)));
      child.on('close', (c) => resolve(c ?? 1));
      child.on('error', () => resolve(1));
    });
    const why = stderr.trim().split('\n').pop()?.slice(0, 300) ?? '';
    if (code !== 0) tally.errors.push(`kubectl get configmaps,secrets -A failed${why ? `: ${why}` : ''}`);
    await sleep(400);
  }
}

async function aggregatorNumbers(
  aggregatorOpsPort: number,
): Promise<{ handoffs: number; heldSeconds: number; shadowCompared: number; shadowDivergent: number }> {
  const lines = (await fetch(`http://127.0.0.1:${aggregatorOpsPort}/metrics`).then((r) => r.text())).split('\n');
  const valueOf = (line: string | undefined) => Number(/\s([\d.e+-]+)$/.exec(line ?? ' 0')?.[1] ?? 0);
  const value = (name: string) => valueOf(lines.find((l) => l.startsWith(name)));
  // Summed over shards: cluster_bridge_aggregator_shadow_reads_total{shard="...",result="..."}.
  const shadow = (result: string) =>
    lines.filter((l) => l.startsWith('cluster_bridge_aggregator_shadow_reads_total{') && l.includes(`result="${result}"`)).reduce((n, l) => n + valueOf(l), 0);
  return {
    handoffs: value('cluster_bridge_aggregator_handoff_seconds_count{phase="writes-held",outcome="completed"}'),
    heldSeconds: value('cluster_bridge_aggregator_handoff_seconds_sum{phase="writes-held",outcome="completed"}'),
    shadowCompared: shadow('equal') + shadow('divergent'),
    shadowDivergent: shadow('divergent'),
  };
}

/** The run's objects in a cluster (every namespace); ConfigMaps count only once the controller's mark is there too (mirrored). */
async function objectsIn(cluster: KubeRestClient, kind: 'configmaps' | 'secrets'): Promise<Set<string>> {
  const list = await cluster.expect<{ items: { metadata: { name: string; namespace: string; annotations?: Record<string, string> } }[] }>(
    'GET',
    `/api/v1/${kind}?labelSelector=${encodeURIComponent(RUN_SELECTOR)}`,
    [200],
  );
  const complete = list.body.items.filter((i) => kind === 'secrets' || i.metadata.annotations?.[DEMO_SEEN_ANNOTATION]);
  return new Set(complete.map((i) => `${kind.slice(0, -1)}/${i.metadata.namespace}/${i.metadata.name}`));
}

/**
 * The demo's plan: F = 0% (nothing moves; reads of the next stage's shards are shadowed), 1%, 5%,
 * 25%, 50%, 100% over the demo's namespace shards, selected by their label (F is the fraction of those
 * namespaces, each placed by the hash of its name; no type shard moves), short soaks and windows for a lab.
 */
const DEMO_PLAN: RolloutSpec = {
  stages: [0, 1, 5, 25, 50, 100].map((percent) => ({
    name: `${percent}%`,
    fraction: percent / 100,
    namespaces: { selector: `${DEMO_NAMESPACE_LABEL}=true` },
  })),
  soakSeconds: SOAK_SECONDS,
  onBreach: 'Rollback',
  gates: { windowSeconds: 5, minRequests: 10, maxErrorRateIncrease: 0.05, shadowReadShare: 0.5 },
};

const REPORTED_EVENTS: Record<string, (stage: string | undefined) => string> = {
  'stage-soaked': (stage) => `F=${stage}`,
  'gate-breached': (stage) => `BREACH at ${stage}`,
  'rolled-back': () => 'rolled back',
};

/** One line per soaked stage, breach and rollback. */
function historyLines(entries: HistoryEntry[], progress: string): string[] {
  return entries.flatMap((entry) => {
    const label = REPORTED_EVENTS[entry.event]?.(entry.stage);
    return label ? [`   ${label.padEnd(16)} ${progress}${entry.reason ? `: ${entry.reason}` : ''}`] : [];
  });
}

function shardProgress(shards: { owner: string }[]): string {
  const moved = shards.filter((x) => x.owner === 'destination').length;
  return `${progressBar(moved, shards.length)} ${moved}/${shards.length} namespaces in the destination`;
}

/** The demo namespaces the destination owns per the rollout's status. */
function namespacesInDestination(rollout: BridgeRollout): string[] {
  return (rollout.status?.shards ?? []).filter((s) => s.owner === 'destination').flatMap((s) => namespaceOfShard(s.shard) ?? []);
}

/**
 * Which namespaces each stage moved, as the rollout's status showed them once the stage was reached
 * (every shard at its owner, before the soak ends and the next stage starts), beside what the hash
 * positions say it must move.
 */
class StageMoves {
  readonly stages: { stage: string; fraction: number; inDestination: string[] }[] = [];
  private seen = 0;

  /** Records each newly reached stage (and a rollback) and prints the namespaces that changed owner. */
  observe(rollout: BridgeRollout): void {
    const history = rollout.status?.history ?? [];
    for (const entry of history.slice(this.seen)) {
      if (entry.event !== 'stage-reached' && entry.event !== 'rolled-back') continue;
      const inDestination = namespacesInDestination(rollout);
      const before = this.stages.at(-1)?.inDestination ?? [];
      const moved = inDestination.filter((ns) => !before.includes(ns));
      const back = before.filter((ns) => !inDestination.includes(ns));
      const stage = entry.event === 'rolled-back' ? 'rollback' : (entry.stage ?? '?');
      this.stages.push({ stage, fraction: entry.event === 'rolled-back' ? 0 : (entry.fraction ?? NaN), inDestination });
      const change = [moved.length ? `moved ${moved.join(', ')}` : '', back.length ? `back ${back.join(', ')}` : ''].filter(Boolean).join('; ');
      say(
        `   ${(entry.event === 'rolled-back' ? 'rolled back' : `${stage} reached`).padEnd(16)} ${change || 'no namespace changed owner'} (${inDestination.length}/${DEMO_NAMESPACES.length} in the destination)`,
      );
    }
    this.seen = history.length;
  }

  /** Stages whose namespaces in the destination are not exactly those the positions put there. */
  mismatches(): string[] {
    return this.stages
      .filter((s) => Number.isFinite(s.fraction))
      .filter((s) => JSON.stringify([...s.inDestination].sort()) !== JSON.stringify([...namespacesMovedAt(s.fraction)].sort()))
      .map((s) => `${s.stage}: ${s.inDestination.join(', ') || 'none'} (positions say ${namespacesMovedAt(s.fraction).join(', ') || 'none'})`);
  }
}

/**
 * Follows the rollout until `done`, printing a line per soaked stage, breach and rollback, and (on a
 * terminal) a live progress line. Returns the rollout as last seen.
 */
async function follow(
  destination: KubeRestClient,
  tally: Tally,
  done: (r: BridgeRollout) => boolean,
  moves: StageMoves,
  options: { onTick?: (r: BridgeRollout) => Promise<void>; after?: BridgeRollout } = {},
) {
  const live = process.stderr.isTTY;
  const deadline = Date.now() + STAGE_TIMEOUT_MS * DEMO_PLAN.stages.length;
  let printed = options.after?.status?.history?.length ?? 0;
  for (;;) {
    const rollout = (await destination.expect<BridgeRollout>('GET', `${ROLLOUTS_PATH}/${ROLLOUT_NAME}`, [200])).body;
    const status = rollout.status ?? {};
    const progress = `${shardProgress(status.shards ?? [])}, calls ${tally.calls}, errors ${tally.errors.length}`;
    if (live) process.stderr.write('\r\x1b[K');
    const history = status.history ?? [];
    moves.observe(rollout);
    for (const line of historyLines(history.slice(printed), progress)) say(line);
    printed = history.length;
    if (done(rollout)) return rollout;
    if (live) process.stderr.write(`   [${status.phase ?? 'Pending'} ${status.stageName ?? ''}] ${progress}`);
    if (Date.now() > deadline) throw new BridgeError('BRIDGE_ERR_ROLLOUT', `the demo rollout did not finish in time: ${status.message ?? 'no status'}`);
    await options.onTick?.(rollout);
    await sleep(250);
  }
}

/** `--fault`: once stage 25% is reached, the destination fails the workloads' creates in the demo namespaces until removed. */
class DemoFault {
  readonly spec = { name: `demo-fault-${RUN}`, namespace: DEMO_NAMESPACES, user: `system:serviceaccount:${LAB_APPS_NAMESPACE}:default` };
  at: number | undefined;
  /** Errors the workloads saw while the fault was on. */
  errors = 0;
  private errorsBefore = 0;

  constructor(
    private readonly destination: KubeRestClient,
    private readonly tally: Tally,
  ) {}

  async maybeInject(rollout: BridgeRollout): Promise<void> {
    if (this.at !== undefined || !(rollout.status?.history ?? []).some((h) => h.event === 'stage-reached' && h.stage === '25%')) return;
    await injectWebhookFault(this.destination, this.spec);
    this.at = Date.now();
    this.errorsBefore = this.tally.errors.length;
    say(`   FAULT: the destination now fails every create of ${this.spec.user} in the demo namespaces (HTTP 500: a webhook it cannot call)`);
  }

  async remove(final: BridgeRollout | undefined): Promise<void> {
    await removeWebhookFault(this.destination, this.spec.name);
    if (this.at === undefined || !final) return;
    this.errors = this.tally.errors.length - this.errorsBefore;
    const breach = (final.status?.history ?? []).find((h) => h.event === 'gate-breached');
    const detected = breach ? `${((Date.parse(breach.at) - this.at) / 1000).toFixed(1)} s after the fault` : '(no breach recorded)';
    say(`   the controller detected it ${detected}; phase ${final.status?.phase}`);
    const degraded = final.status?.conditions?.find((c) => c.type === 'Degraded' && c.status === 'True');
    if (degraded) say(`   condition Degraded: ${degraded.message}`);
  }
}

/** Seconds per stage from the history: start to soaked (the hand-offs included). */
function stageTimes(rollout: BridgeRollout): string[] {
  const history = rollout.status?.history ?? [];
  return history
    .filter((h) => h.event === 'stage-soaked')
    .map((soaked) => {
      const started = history.filter((h) => h.event === 'stage-started' && h.stage === soaked.stage && h.at <= soaked.at).at(-1);
      const reached = history.find((h) => h.event === 'stage-reached' && h.stage === soaked.stage && started && h.at >= started.at);
      const total = started ? (Date.parse(soaked.at) - Date.parse(started.at)) / 1000 : 0;
      return `${soaked.stage} ${total.toFixed(1)} s (namespaces moved in ${reached?.seconds?.toFixed(1) ?? '?'} s)`;
    });
}

/**
 * Runs the staged migration as a BridgeRollout driven by the aggregator's controller, then a rollback
 * to 0; with `fault`, the destination starts failing the workloads' writes at 25% and the controller
 * rolls back on its own. Returns false if an acknowledged write was lost or a client saw an error a
 * single cluster would not give.
 */
export async function runMigration(daemons: DaemonRecord[], options: { fault?: boolean } = {}): Promise<boolean> {
  const workloadKubeconfig = join(labDir(), 'workload.kubeconfig');
  const destination = KubeRestClient.load(kubeconfigPath('destination'));
  const source = KubeRestClient.load(kubeconfigPath('source'));
  const tally: Tally = { calls: 0, errors: [], written: new Set() };
  await prepareDemoNamespaces();
  await seedNamespaces(workloadKubeconfig, tally);
  say(`   ${DEMO_NAMESPACES.length} application namespaces, each with a ConfigMap and a Secret; their fixed positions: ${describePositions()}`);
  let stopped = false;
  const stop = () => stopped;
  const workloads = [clientNodeWorkload(workloadKubeconfig, tally, stop), kubectlWorkload(workloadKubeconfig, tally, stop)];
  const python = pythonWorkload(workloadKubeconfig, tally);
  const controller = new SeenController(workloadKubeconfig, tally);
  await controller.start();
  const fault = options.fault ? new DemoFault(destination, tally) : undefined;
  const moves = new StageMoves();
  let final: BridgeRollout | undefined;
  try {
    await applyPlan(destination, ROLLOUT_NAME, DEMO_PLAN, { replace: true });
    say(`   BridgeRollout "${ROLLOUT_NAME}" applied: stages ${DEMO_PLAN.stages.map((s) => s.name).join(' -> ')}, soak ${SOAK_SECONDS} s, gates over 5 s`);
    const settled = (r: BridgeRollout) => ['Complete', 'RolledBack', 'Paused'].includes(r.status?.phase ?? '');
    final = await follow(destination, tally, settled, moves, { onTick: fault ? (r) => fault.maybeInject(r) : undefined });
    if (!fault && final.status?.phase === 'Complete') {
      await sendRolloutCommand(destination, ROLLOUT_NAME, 'rollback', 30);
      say('   rollback to 0% requested (bridgectl rollback)');
      final = await follow(destination, tally, (r) => r.status?.phase === 'RolledBack', moves, { after: final });
    }
  } finally {
    stopped = true;
    python.kill();
    await Promise.all(workloads);
    await fault?.remove(final);
  }
  const unmarked = await controller.drainAndStop(15_000);
  const numbers = await report(daemons, { source, destination, tally, final, faultErrors: fault?.errors ?? 0, moves });
  const handoffs = numbers.handoffs;
  // A relist per hand-off at most (each hand-off closes the merged watch once, and an older-epoch RV gets 410 once), plus the first list.
  say(
    `   controller (client-node informer on all namespaces): marked ${controller.marked} ConfigMaps seen, listed ${controller.relists} times over ${handoffs} hand-offs; unmarked at the end: ${unmarked}`,
  );
  const ok = numbers.ok && unmarked === 0 && controller.relists <= handoffs + 1;
  source.close();
  destination.close();
  return ok && final?.status?.phase === 'RolledBack';
}

/**
 * The closing report; ok is false when a write was lost, a client saw an error a single cluster would
 * not give, or a stage moved other namespaces than their positions say.
 */
async function report(
  daemons: DaemonRecord[],
  run: { source: KubeRestClient; destination: KubeRestClient; tally: Tally; final: BridgeRollout | undefined; faultErrors: number; moves: StageMoves },
): Promise<{ ok: boolean; handoffs: number }> {
  const { source, destination, tally } = run;
  // Let the last writes reach the other side, then count: every acknowledged write in both clusters.
  await sleep(2000);
  const inSource = new Set([...(await objectsIn(source, 'configmaps')), ...(await objectsIn(source, 'secrets'))]);
  const inDestination = new Set([...(await objectsIn(destination, 'configmaps')), ...(await objectsIn(destination, 'secrets'))]);
  const lost = [...tally.written].filter((name) => !inSource.has(name) || !inDestination.has(name));
  const aggregatorOps = daemons.find((d) => d.name === 'aggregator')?.ports[1];
  const numbers = aggregatorOps ? await aggregatorNumbers(aggregatorOps) : undefined;
  const unexpected = tally.errors.length - run.faultErrors;
  say('== report');
  say(`   rollout: ${run.final?.status?.phase ?? 'not started'}; time per stage: ${run.final ? stageTimes(run.final).join(', ') : '-'}`);
  say(`   calls made by the workloads: ${tally.calls}; errors a single cluster would not give: ${unexpected}`);
  if (run.faultErrors) say(`   errors the injected fault caused (HTTP 500 from the destination until the rollback): ${run.faultErrors}`);
  for (const error of tally.errors.slice(0, 5)) say(`     ${error}`);
  say(`   acknowledged writes: ${tally.written.size}; objects in source ${inSource.size}, in destination ${inDestination.size}; lost writes: ${lost.length}`);
  if (numbers?.handoffs) say(`   hand-offs: ${numbers.handoffs}, writes held ${((numbers.heldSeconds / numbers.handoffs) * 1000).toFixed(0)} ms on average`);
  if (numbers) say(`   shadow reads before each move: ${numbers.shadowCompared} compared, ${numbers.shadowDivergent} divergent`);
  say('   namespaces in the destination per stage:');
  for (const stage of run.moves.stages)
    say(`     ${stage.stage.padEnd(9)} ${stage.inDestination.length}/${DEMO_NAMESPACES.length}: ${stage.inDestination.join(', ') || '-'}`);
  const mismatches = run.moves.mismatches();
  for (const mismatch of mismatches) say(`   MISMATCH ${mismatch}`);
  return { ok: lost.length === 0 && unexpected === 0 && mismatches.length === 0, handoffs: numbers?.handoffs ?? 0 };
}

/** One ConfigMap and one Secret in each demo namespace, written through the sidecar as the workload. */
async function seedNamespaces(kubeconfig: string, tally: Tally): Promise<void> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const api = kc.makeApiClient(k8s.CoreV1Api);
  const metadata = { name: `demo-${RUN}-seed`, labels: { app: 'demo', run: RUN } };
  for (const namespace of DEMO_NAMESPACES) {
    tally.calls += 2;
    await api.createNamespacedConfigMap({ namespace, body: { metadata, data: { namespace } } });
    tally.written.add(`configmap/${namespace}/${metadata.name}`);
    await api.createNamespacedSecret({ namespace, body: { metadata, stringData: { namespace } } });
    tally.written.add(`secret/${namespace}/${metadata.name}`);
  }
}
