/** `bridgectl sync serve` (the synchronizer in the foreground, configured by flags over BRIDGE_* env) and `sync status`. */
import { describeFlags, envWithFlags } from '../lib/process/env-flags.js';
import { createLogger } from '../lib/process/logger.js';
import { loadSyncConfig, SYNC_ENV } from '../synchronizer/config.js';
import { startSynchronizer } from '../synchronizer/server.js';
import { guardProcess } from '../lib/process/guard.js';
import { runUntilSignal } from '../lib/process/run-until-signal.js';
import { type Command, say, sayOnSignal } from './command.js';
import { status } from './sync-status.js';

const serve: Command = {
  summary: `run the synchronizer in the foreground (flags override BRIDGE_* env)\n${describeFlags(SYNC_ENV)}`,
  async run(args) {
    const config = loadSyncConfig(envWithFlags('sync serve', SYNC_ENV, args));
    const log = createLogger('synchronizer');
    guardProcess(log);
    const running = await startSynchronizer(config, log);
    say(`synchronizer: catch-up API https://${config.listenHost}:${running.port} (ops :${running.opsPort}), shards ${config.shards.join(', ')}`);
    await runUntilSignal(() => running.close(), sayOnSignal);
  },
};

export const syncCommands: Record<string, Command> = { serve, status };
