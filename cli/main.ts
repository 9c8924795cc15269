#!/usr/bin/env node
/** bridgectl: one entry point for every cluster-bridge component and the lab. */
import { BridgeError, errorMessage, isBridgeError } from '../lib/errors.js';
import type { Command } from './command.js';
import { demoCommand } from './demo-command.js';
import { labCommands } from './lab-commands.js';

const groups: Record<string, Record<string, Command>> = {
  lab: labCommands,
  sidecar: (await import('./sidecar-commands.js')).sidecarCommands,
  webhook: (await import('./webhook-commands.js')).webhookCommands,
  certs: (await import('./certs-commands.js')).certsCommands,
  aggregator: (await import('./aggregator-commands.js')).aggregatorCommands,
  sync: (await import('./sync-commands.js')).syncCommands,
  rollout: (await import('./rollout-commands.js')).rolloutCommands,
};

const topLevel: Record<string, Command> = {
  demo: demoCommand,
  preflight: (await import('./preflight/command.js')).preflightCommand,
  release: (await import('./release-command.js')).releaseCommand,
  status: (await import('./rollout-status.js')).statusCommand,
  ...(await import('./rollout-commands.js')).rolloutVerbs,
};

function usage(): string {
  const lines = ['usage: bridgectl <group> <command> [flags]', ''];
  for (const [name, command] of Object.entries(topLevel)) lines.push(`  ${name.padEnd(22)} ${command.summary}`);
  for (const [group, commands] of Object.entries(groups)) {
    for (const [name, command] of Object.entries(commands)) lines.push(`  ${`${group} ${name}`.padEnd(22)} ${command.summary}`);
  }
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [group, name] = argv;
  if (!group || group === '--help' || group === 'help') {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  const direct = topLevel[group];
  const command = direct ?? groups[group]?.[name ?? ''];
  const rest = direct ? argv.slice(1) : argv.slice(2);
  try {
    if (!command) throw new BridgeError('BRIDGE_ERR_USAGE', `unknown command "${[group, name].filter(Boolean).join(' ')}"`, { fix: 'run `bridgectl --help`' });
    if (rest.includes('--help')) {
      process.stdout.write(`bridgectl ${direct ? group : `${group} ${name}`}: ${command.summary}\n`);
      return 0;
    }
    await command.run(rest);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    // One line naming the cause and the fix; stack traces only when asked for.
    process.stderr.write(`error: ${isBridgeError(err) ? err.toLine() : errorMessage(err)}\n`);
    if (process.env.BRIDGE_DEBUG) process.stderr.write(`${(err as Error).stack ?? ''}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
