/**
 * `bridgectl sync status`: what the synchronizer has mirrored, read from its ops port's /status (the
 * leader's; a standby says so). One line per shard: direction, phase, a progress bar of the owner's
 * objects that are on the replica (during a full reconcile, how far it got), the owner revision it is
 * complete up to, events waiting, conflicts (replica objects changed behind its back and overwritten),
 * lag p50/p99 over its recent writes, errors by reason.
 */
import { BridgeError, errorMessage } from '../lib/errors.js';
import { parseFlags } from '../lib/process/flags.js';
import { readInstalledDaemons } from '../lab/install.js';
import { isDaemonAlive } from '../lab/process.js';
import type { LagSummary } from '../synchronizer/lag-window.js';
import type { SyncStatus } from '../synchronizer/server.js';
import type { Command } from './command.js';

const BAR_WIDTH = 20;

export function progressBar(done: number, total: number): string {
  const filled = total === 0 ? BAR_WIDTH : Math.min(BAR_WIDTH, Math.floor((done / total) * BAR_WIDTH));
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`;
}

/** `12/80 ms` over the recent writes; `-` before the first. */
export function lagCell(lag: LagSummary | undefined): string {
  return lag?.count ? `${Math.round(lag.p50Ms)}/${Math.round(lag.p99Ms)} ms` : '-';
}

export function renderSyncStatus(status: SyncStatus): string {
  if (!status.leading) return `synchronizer ${status.identity}: standing by; another replica leads and mirrors (ask its ops port)`;
  // A carried type (namespace shards) has a mirror per direction: shards are counted once.
  const mirroredShards = new Set(status.mirrors.map((m) => m.shard)).size;
  const directions = status.mirrors.length > mirroredShards ? ` (${status.mirrors.length} mirrors, some both ways)` : '';
  const lines = [`synchronizer ${status.identity}: leading, mirroring ${mirroredShards} of ${status.shards.length} shards${directions}`];
  // Column widths; a longer cell still gets one space before the next.
  const widths = [34, 25, 13, 42, 12, 22, 11, 16];
  const columns = (cells: string[]) =>
    cells
      .map((cell, i) => (cell.length >= (widths[i] ?? 0) ? `${cell} ` : cell.padEnd(widths[i] ?? 0)))
      .join('')
      .trimEnd();
  lines.push(columns(['SHARD', 'DIRECTION', 'PHASE', 'PROGRESS', 'SYNCED RV', 'PENDING', 'CONFLICTS', 'LAG P50/P99', 'ERRORS']));
  for (const m of [...status.mirrors].sort((a, b) => a.shard.localeCompare(b.shard))) {
    const progress = `${progressBar(m.done, m.total)} ${m.done}/${m.total}${m.initialSyncComplete ? '' : ' (initial)'}`;
    const pending = m.pendingEvents ? `${m.pendingEvents}, oldest ${m.oldestPendingMs} ms` : '0';
    const errors =
      Object.entries(m.errors)
        .map(([reason, count]) => `${reason} ${count}`)
        .join(', ') || '-';
    lines.push(columns([m.shard, m.direction, m.phase, progress, m.syncedRV, pending, String(m.conflicts ?? 0), lagCell(m.lag), errors]));
  }
  for (const m of status.mirrors) if (m.lastError) lines.push(`${m.shard}: last error: ${m.lastError}`);
  return lines.join('\n');
}

/** The --url given, or the lab's installed synchronizer's ops port. */
export function syncStatusUrl(given: string | undefined, flag = '--url'): URL {
  if (given === undefined) {
    const lab = readInstalledDaemons().find((d) => d.name === 'synchronizer' && isDaemonAlive(d));
    if (!lab) {
      throw new BridgeError('BRIDGE_ERR_USAGE', 'no --url given and no lab synchronizer is running', {
        fix: 'pass --url http://<synchronizer>:8081 (its ops port), or run `bridgectl lab install`',
      });
    }
    return new URL(`http://127.0.0.1:${lab.ports[1]}/status`);
  }
  const url = URL.canParse(given) ? new URL(given) : undefined;
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) {
    throw new BridgeError('BRIDGE_ERR_USAGE', `${flag} must be http://host:port (the synchronizer's ops port), got "${given}"`, {
      fix: `pass ${flag} http://<synchronizer>:8081`,
    });
  }
  return new URL('/status', url);
}

export async function fetchSyncStatus(url: URL): Promise<SyncStatus> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  } catch (err) {
    throw new BridgeError('BRIDGE_ERR_UPSTREAM_UNREACHABLE', `cannot reach the synchronizer at ${url.origin}: ${errorMessage(err)}`, {
      fix: 'check --url (the ops port, default 8081) and that the synchronizer runs',
    });
  }
  if (!response.ok) {
    throw new BridgeError('BRIDGE_ERR_UPSTREAM_UNREACHABLE', `${url.href} answered HTTP ${response.status}: not a synchronizer's ops port?`, {
      fix: "pass the synchronizer's ops port (default 8081) as --url",
    });
  }
  return (await response.json()) as SyncStatus;
}

export const status: Command = {
  summary: 'print what the synchronizer has mirrored, per shard [--url http://HOST:OPS_PORT] [--output json]',
  async run(args) {
    const flags = parseFlags('sync status', args, { url: { type: 'string' }, output: { type: 'string' } });
    if (flags.output !== undefined && flags.output !== 'json')
      throw new BridgeError('BRIDGE_ERR_USAGE', `--output must be json, got "${flags.output}"`, { fix: 'omit --output or pass --output json' });
    const current = await fetchSyncStatus(syncStatusUrl(flags.url));
    process.stdout.write(`${flags.output === 'json' ? JSON.stringify(current, null, 2) : renderSyncStatus(current)}\n`);
  },
};
