/**
 * `bridgectl status`: the rollout as an operator follows it. Stage and fraction, each shard's owner
 * and epoch, requests and errors per backend over the gate window, the synchronizer's backlog (when
 * its ops port is known), conditions and the latest history. `--watch` redraws every second.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { BackendWindow, BridgeRollout, GateEvaluation, HistoryEntry } from '../aggregator/rollout/rollout-types.js';
import { fenceLine, readFenceProblem } from '../aggregator/handoff/fence-support.js';
import { BridgeError, errorMessage } from '../lib/errors.js';
import { parseFlags } from '../lib/process/flags.js';
import { usingClient } from '../lib/kube/rest-client.js';
import type { SyncStatus } from '../synchronizer/server.js';
import { type Command } from './command.js';
import { destinationClient, findRollout } from './rollout-commands.js';
import { fetchSyncStatus, progressBar, syncStatusUrl } from './sync-status.js';

const HISTORY_SHOWN = 6;

const pct = (rate: number) => `${(rate * 100).toFixed(1)}%`;
const ago = (iso: string | undefined, now: number) => (iso ? `${Math.max(0, Math.round((now - Date.parse(iso)) / 1000))} s` : '-');

function gateLines(g: GateEvaluation | undefined): string[] {
  if (!g) return [];
  const backend = (name: string, w: BackendWindow) => `${name} ${w.requests} requests, ${w.errors} errors (${pct(w.errorRate)}), p99 ${w.p99Ms} ms`;
  const lines = [`gates over ${g.windowSeconds} s: ${backend('source', g.source)}; ${backend('destination', g.destination)}`];
  if (g.shadow?.compared)
    lines.push(`  shadow reads: ${g.shadow.compared} compared, ${g.shadow.divergent} divergent (${pct(g.shadow.divergent / g.shadow.compared)})`);
  if (g.breach) lines.push(`  breach: ${g.breach}`);
  else if (g.insufficient) lines.push(`  not judged: ${g.insufficient}`);
  return lines;
}

function syncLines(sync: SyncStatus | string | undefined): string[] {
  if (sync === undefined) return [];
  if (typeof sync === 'string') return [`sync: ${sync}`];
  if (!sync.leading) return ['sync: a standby replica answered (ask the leader)'];
  const pending = sync.mirrors.reduce((n, m) => n + m.pendingEvents, 0);
  const oldest = Math.max(0, ...sync.mirrors.map((m) => m.oldestPendingMs ?? 0));
  const errors = sync.mirrors.reduce((n, m) => n + Object.values(m.errors).reduce((a, b) => a + b, 0), 0);
  const conflicts = sync.mirrors.reduce((n, m) => n + (m.conflicts ?? 0), 0);
  return [`sync: ${sync.mirrors.length} shards mirrored, ${pending} events pending (oldest ${oldest} ms), ${errors} errors, ${conflicts} conflicts`];
}

function historyLines(history: HistoryEntry[]): string[] {
  const shown = history.slice(-HISTORY_SHOWN);
  return shown.length === 0
    ? []
    : [
        'recent:',
        ...shown.map((h) => {
          const detail = [h.stage, h.reason, h.seconds !== undefined ? `${h.seconds.toFixed(1)} s` : undefined].filter(Boolean).join(', ');
          return `  ${h.at.slice(11, 19)} ${h.event}${detail ? `: ${detail}` : ''}`;
        }),
      ];
}

export function renderRolloutStatus(rollout: BridgeRollout, sync: SyncStatus | string | undefined, now = Date.now()): string {
  const s = rollout.status ?? {};
  const stages = rollout.spec.stages;
  const stageIndex = s.stage ?? -1;
  const lines = [
    `rollout ${rollout.metadata.name}: ${s.phase ?? 'Pending'}, stage ${stageIndex + 1}/${stages.length} ` +
      `${s.stageName ? `"${s.stageName}" (F=${s.fraction})` : '(not started)'}, ${ago(s.stageStartedAt, now)} in stage`,
    `stages: ${stages.map((st, i) => (i < stageIndex ? `${st.name} done` : i === stageIndex ? `[${st.name}]` : st.name)).join('  ')}`,
  ];
  if (s.message) lines.push(`message: ${s.message}`);
  const shards = s.shards ?? [];
  const moved = shards.filter((x) => x.owner === 'destination').length;
  lines.push(`shards in the destination: ${progressBar(moved, shards.length)} ${moved}/${shards.length}`);
  lines.push(`  ${'SHARD'.padEnd(42)}${'OWNER'.padEnd(15)}${'DESIRED'.padEnd(13)}${'EPOCH'.padEnd(7)}OFFSET`);
  for (const x of shards) {
    lines.push(
      `  ${x.shard.padEnd(42)}${(x.handoff ? `->${x.desiredOwner}` : x.owner).padEnd(15)}${x.desiredOwner.padEnd(13)}${String(x.epoch).padEnd(7)}${x.offset}`,
    );
  }
  lines.push(...gateLines(s.gate), ...syncLines(sync));
  for (const c of s.conditions ?? []) if (c.status === 'True') lines.push(`condition ${c.type}: ${c.reason}${c.message ? ` - ${c.message}` : ''}`);
  lines.push(...historyLines(s.history ?? []));
  return lines.join('\n');
}

/** The synchronizer's status when its address is known (--sync-url or the lab's), else why not. */
async function syncSummary(url: string | undefined): Promise<SyncStatus | string | undefined> {
  let target: URL;
  try {
    target = syncStatusUrl(url, '--sync-url');
  } catch {
    return undefined; // no lab synchronizer and no --sync-url: leave the line out
  }
  try {
    return await fetchSyncStatus(target);
  } catch (err) {
    return `unreachable (${errorMessage(err)})`;
  }
}

export const statusCommand: Command = {
  summary: "print the rollout's stage, shard owners, gates and sync backlog [--name] [--watch] [--output json] [--sync-url URL] [--kubeconfig DEST]",
  async run(args) {
    const flags = parseFlags('status', args, {
      name: { type: 'string' },
      watch: { type: 'boolean' },
      output: { type: 'string' },
      'sync-url': { type: 'string' },
      kubeconfig: { type: 'string' },
    });
    if (flags.output !== undefined && flags.output !== 'json')
      throw new BridgeError('BRIDGE_ERR_USAGE', `status: --output must be json, got "${flags.output}"`, { fix: 'omit --output or pass --output json' });
    if (flags.watch && flags.output)
      throw new BridgeError('BRIDGE_ERR_USAGE', 'status: --watch redraws for a terminal; it cannot be combined with --output', { fix: 'drop one of them' });
    if (flags['sync-url'] !== undefined) syncStatusUrl(flags['sync-url'], '--sync-url'); // a malformed URL is refused before anything is read
    await usingClient(destinationClient(flags.kubeconfig), async (client) => {
      for (;;) {
        const rollout = await findRollout(client, flags.name);
        if (flags.output === 'json') return void process.stdout.write(`${JSON.stringify(rollout, null, 2)}\n`);
        const fenceProblem = await readFenceProblem(client);
        const text = renderRolloutStatus(rollout, await syncSummary(flags['sync-url'])) + (fenceProblem ? `\n${fenceLine(fenceProblem)}` : '');
        if (!flags.watch) return void process.stdout.write(`${text}\n`);
        process.stdout.write(process.stdout.isTTY ? `\x1b[H\x1b[2J${text}\n` : `${text}\n\n`);
        await sleep(1000);
      }
    });
  },
};
