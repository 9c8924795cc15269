/**
 * `bridgectl aggregator serve|move|status`: the aggregator in the foreground, and the two operator
 * actions on shard owners (the rollout controller drives the same ConfigMap in stages).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AGGREGATOR_ENV, loadAggregatorConfig } from '../aggregator/config.js';
import { writeDesiredOwners } from '../aggregator/handoff/owner-reconciler.js';
import { startAggregator } from '../aggregator/server.js';
import { fenceLine, readFenceProblem } from '../aggregator/handoff/fence-support.js';
import { describeFlags, envWithFlags } from '../lib/process/env-flags.js';
import { BridgeError } from '../lib/errors.js';
import { existsSync } from 'node:fs';
import { KubeRestClient, kubeApiError, usingClient } from '../lib/kube/rest-client.js';
import { kubeconfigPath } from '../lab/lab-files.js';
import { namespaceShardProblem } from '../lib/routing/namespace-shards.js';
import { namespaceOfShard, namespaceShardKey } from '../lib/routing/shard-hash.js';
import { DEFAULT_SHARDS, isSourcePinned } from '../lib/routing/resource-classes.js';
import { checkShardMirrored, checkShardServed } from '../lib/routing/shard-validation.js';
import { governedMoveRefusal, governingRollout } from '../aggregator/rollout/rollout-governance.js';
import { ROLLOUTS_PATH, type BridgeRollout } from '../aggregator/rollout/rollout-types.js';
import { readInstalledDaemons } from '../lab/install.js';
import { isDaemonAlive } from '../lab/process.js';
import { fetchSyncStatus, syncStatusUrl } from './sync-status.js';
import { createLogger } from '../lib/process/logger.js';
import { ROUTING_TABLE_CONFIGMAP, SYSTEM_NAMESPACE } from '../lib/names.js';
import { shardState, validateRoutingTable } from '../lib/routing/routing-table.js';
import type { ClusterSide, RoutingTable, ShardKey } from '../lib/routing/types.js';
import { parseFlags } from '../lib/process/flags.js';
import { guardProcess } from '../lib/process/guard.js';
import { runUntilSignal } from '../lib/process/run-until-signal.js';
import { type Command, say, sayOnSignal } from './command.js';

const serve: Command = {
  summary: `run the aggregator in the foreground (flags override BRIDGE_* env)\n${describeFlags(AGGREGATOR_ENV)}`,
  async run(args) {
    const config = loadAggregatorConfig(envWithFlags('aggregator serve', AGGREGATOR_ENV, args));
    const log = createLogger('aggregator');
    guardProcess(log);
    const running = await startAggregator(config, log);
    say(`aggregator: https://${config.listenHost}:${running.port} (ops :${running.opsPort})`);
    await runUntilSignal(() => running.close(), sayOnSignal);
  },
};

const SIDES: readonly string[] = ['source', 'destination'];

export async function readRoutingTable(client: KubeRestClient): Promise<RoutingTable> {
  const got = await client.expect<{ data?: Record<string, string> }>(
    'GET',
    `/api/v1/namespaces/${SYSTEM_NAMESPACE}/configmaps/${ROUTING_TABLE_CONFIGMAP}`,
    [200, 404],
  );
  if (got.status === 404)
    throw new BridgeError('BRIDGE_ERR_ROUTING', 'no routing table in the destination yet', { fix: 'start the aggregator (bridgectl aggregator serve) first' });
  return validateRoutingTable(JSON.parse(got.body.data?.['table.json'] ?? '{}'));
}

/** The rollouts in the destination; none when it serves no BridgeRollout API. */
async function rolloutsIn(client: KubeRestClient): Promise<BridgeRollout[]> {
  const got = await client.request<{ items: BridgeRollout[] }>('GET', ROLLOUTS_PATH);
  if (got.status === 404) return [];
  if (got.status !== 200) throw kubeApiError('GET', ROLLOUTS_PATH, got);
  return got.body.items;
}

/** The synchronizer's shards from --sync-url, or the lab's running synchronizer; undefined when neither is at hand (the aggregator checks again). */
async function synchronizerShards(syncUrl: string | undefined): Promise<readonly string[] | undefined> {
  if (syncUrl === undefined && !readInstalledDaemons().some((d) => d.name === 'synchronizer' && isDaemonAlive(d))) return undefined;
  return (await fetchSyncStatus(syncStatusUrl(syncUrl, '--sync-url'))).shards;
}

/**
 * Everything that would make the move fail or be undone, checked before the desired owner is written
 * (so before anything is held): a rollout governing the shard, a name the API server does not serve
 * or that is never moved, a shard the synchronizer does not mirror.
 */
async function checkMovable(client: KubeRestClient, shard: string, syncUrl: string | undefined): Promise<void> {
  const governing = governingRollout(await rolloutsIn(client), shard, DEFAULT_SHARDS);
  if (governing) throw governedMoveRefusal(governing, shard);
  await checkShardServed(client, shard, 'destination');
  const mirrored = await synchronizerShards(syncUrl);
  if (mirrored) checkShardMirrored(shard, mirrored);
}

/** The shard `move` acts on: --shard (a type) or --namespace (its namespace shard), exactly one. */
function shardToMove(flags: { shard?: string; namespace?: string }): ShardKey {
  if (flags.shard !== undefined && flags.namespace !== undefined)
    throw new BridgeError('BRIDGE_ERR_USAGE', '--shard and --namespace exclude each other', { fix: 'move a type (--shard) or a namespace (--namespace)' });
  if (flags.namespace !== undefined) {
    const problem = namespaceShardProblem(flags.namespace);
    if (problem) throw new BridgeError('BRIDGE_ERR_USAGE', `--namespace: ${problem}`, { fix: 'pass --namespace <an application namespace>' });
    return namespaceShardKey(flags.namespace);
  }
  if (!flags.shard || !/^[a-z0-9-]+(\.[a-z0-9.-]+)?$/.test(flags.shard))
    throw new BridgeError('BRIDGE_ERR_USAGE', `--shard must name a resource type like configmaps or deployments.apps, got "${flags.shard ?? ''}"`, {
      fix: 'pass --shard <resource>[.<group>], or --namespace <namespace>',
    });
  if (isSourcePinned(flags.shard))
    throw new BridgeError(
      'BRIDGE_ERR_USAGE',
      `${flags.shard} is never moved: the source owns it in every state and it is mirrored to the destination (docs/adr/0013)`,
      {
        fix: 'move another shard',
      },
    );
  return flags.shard;
}

/**
 * A namespace shard: its namespace exists on the source (the lab's, or --source-kubeconfig; without
 * either the aggregator checks before holding anything), and the table's carried types are mirrored.
 */
async function checkNamespaceMovable(client: KubeRestClient, shard: ShardKey, flags: { 'sync-url'?: string; 'source-kubeconfig'?: string }): Promise<void> {
  const governing = governingRollout(await rolloutsIn(client), shard, DEFAULT_SHARDS);
  if (governing) throw governedMoveRefusal(governing, shard);
  const namespace = namespaceOfShard(shard)!;
  const sourceConfig = flags['source-kubeconfig'] ?? (existsSync(kubeconfigPath('source')) ? kubeconfigPath('source') : undefined);
  if (sourceConfig) {
    const found = await usingClient(KubeRestClient.load(sourceConfig), (source) =>
      source.request('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}`),
    );
    if (found.status === 404)
      throw new BridgeError('BRIDGE_ERR_ROUTING', `namespace ${namespace} does not exist on the source: there is nothing to move`, {
        fix: 'name an existing application namespace (kubectl get namespaces on the source)',
      });
  }
  const mirrored = await synchronizerShards(flags['sync-url']);
  const carried = (await readRoutingTable(client)).namespaceTypes ?? [];
  if (mirrored) for (const type of carried) checkShardMirrored(type, mirrored);
}

/** Sets one shard's desired owner (merge-patching the desired-owners ConfigMap) and waits for the hand-off. */
const move: Command = {
  summary:
    "change a shard's owner: --shard configmaps | --namespace NS, --to destination|source [--kubeconfig DEST] [--timeout-seconds 60] " +
    '[--sync-url http://SYNC:8081] [--source-kubeconfig SRC]; refused while a BridgeRollout governs the shard, for a type the API server does not serve ' +
    'or the synchronizer does not mirror, and for a namespace the source does not have',
  async run(args) {
    const flags = parseFlags('aggregator move', args, {
      shard: { type: 'string' },
      namespace: { type: 'string' },
      to: { type: 'string' },
      kubeconfig: { type: 'string' },
      'timeout-seconds': { type: 'string' },
      'sync-url': { type: 'string' },
      'source-kubeconfig': { type: 'string' },
    });
    const shard = shardToMove(flags);
    if (!flags.to || !SIDES.includes(flags.to))
      throw new BridgeError('BRIDGE_ERR_USAGE', `--to must be source or destination, got "${flags.to ?? ''}"`, { fix: 'pass --to destination or --to source' });
    const timeoutSeconds = Number(flags['timeout-seconds'] ?? '60');
    if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0)
      throw new BridgeError('BRIDGE_ERR_USAGE', `--timeout-seconds must be a positive number, got "${flags['timeout-seconds']}"`, {
        fix: 'pass e.g. --timeout-seconds 60',
      });
    const client = KubeRestClient.load(flags.kubeconfig);
    try {
      await readRoutingTable(client); // refuse early when no aggregator runs
      const fenceProblem = flags.to === 'destination' ? await readFenceProblem(client) : undefined;
      if (fenceProblem) throw new BridgeError('BRIDGE_ERR_FENCE_UNENFORCEABLE', `${shard} cannot move to the destination: ${fenceProblem}`);
      if (namespaceOfShard(shard) === undefined) await checkMovable(client, shard, flags['sync-url']);
      else await checkNamespaceMovable(client, shard, flags);
      await writeDesiredOwners(client, { [shard]: flags.to as ClusterSide });
      say(`desired owner of ${shard}: ${flags.to}; waiting for the hand-off`);
      const deadline = Date.now() + timeoutSeconds * 1000;
      for (;;) {
        const state = shardState(await readRoutingTable(client), shard);
        if (state.owner === flags.to && !state.handoff) {
          const epoch = state.epochs[state.epochs.length - 1]!;
          process.stdout.write(`${shard} is served by the ${flags.to} (epoch ${epoch.epoch}, resourceVersion offset ${epoch.offset})\n`);
          return;
        }
        if (Date.now() > deadline)
          throw new BridgeError('BRIDGE_ERR_HANDOFF_TIMEOUT', `${shard} still served by the ${state.owner} after ${timeoutSeconds} s`, {
            fix: 'read the aggregator log; check the synchronizer is running and caught up',
          });
        await sleep(200);
      }
    } finally {
      client.close();
    }
  },
};

const status: Command = {
  summary: "print each moved shard's owner and epochs [--kubeconfig DEST] [--output json]",
  async run(args) {
    const flags = parseFlags('aggregator status', args, { kubeconfig: { type: 'string' }, output: { type: 'string' } });
    if (flags.output !== undefined && flags.output !== 'json')
      throw new BridgeError('BRIDGE_ERR_USAGE', `--output must be json, got "${flags.output}"`, { fix: 'omit --output or pass --output json' });
    const client = KubeRestClient.load(flags.kubeconfig);
    try {
      const table = await readRoutingTable(client);
      if (flags.output === 'json') return void process.stdout.write(`${JSON.stringify(table, null, 2)}\n`);
      const lines = [`generation ${table.generation}`];
      if (table.namespaceTypes?.length) lines.push(`namespace shards carry: ${table.namespaceTypes.join(', ')}`);
      if (table.merged?.epochs.length) lines.push(`merged resourceVersion epochs: ${table.merged.epochs.length}`);
      lines.push('SHARD'.padEnd(40) + 'OWNER'.padEnd(13) + 'EPOCH'.padEnd(7) + 'OFFSET');
      for (const state of Object.values(table.shards)) {
        const epoch = state.epochs[state.epochs.length - 1]!;
        lines.push(state.shard.padEnd(40) + (state.handoff ? `->${state.handoff.to}` : state.owner).padEnd(13) + String(epoch.epoch).padEnd(7) + epoch.offset);
      }
      if (Object.keys(table.shards).length === 0) lines.push('(every shard is served by the source, epoch 0)');
      const fenceProblem = await readFenceProblem(client);
      if (fenceProblem) lines.push(fenceLine(fenceProblem));
      process.stdout.write(`${lines.join('\n')}\n`);
    } finally {
      client.close();
    }
  },
};

export const aggregatorCommands: Record<string, Command> = { serve, move, status };
