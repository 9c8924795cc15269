import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BridgeError, errorMessage } from '../lib/errors.js';

/** A `bridgectl <group> <verb>` handler: receives the arguments after the verb. */
export interface Command {
  summary: string;
  run(args: string[]): Promise<void>;
}

/** parseArgs with strict checking, turning its errors into a usage error that names the command. */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(command: string, args: string[], options: T) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new BridgeError('BRIDGE_ERR_USAGE', `${command}: ${errorMessage(err)}`, { fix: `run \`bridgectl ${command} --help\`` });
  }
}

export function parsePort(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new BridgeError('BRIDGE_ERR_USAGE', `${flag} must be a port number between 1 and 65535, got "${value}"`, { fix: `pass a number, e.g. ${flag} 6443` });
  }
  return port;
}

/** Human progress goes to stderr so stdout stays parseable. */
export const say = (line: string) => process.stderr.write(`${line}\n`);
