/**
 * Command-line flags, read strictly: unknown flags, positional arguments, a flag given twice and a
 * flag missing its value are all refused with one line that names the command to ask for help.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readPort } from './config.js';
import { BridgeError, errorMessage } from '../errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

function usageError(command: string, problem: string): BridgeError {
  return new BridgeError('BRIDGE_ERR_USAGE', `${command}: ${problem}`, { fix: `run \`bridgectl ${command} --help\`` });
}

export function parseFlags<T extends Options>(command: string, args: string[], options: T) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: false, tokens: true });
  } catch (err) {
    // parseArgs explains some errors over several lines; the terminal gets one.
    throw usageError(command, errorMessage(err).replace(/\s*\n\s*/g, ' '));
  }
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== 'option') continue;
    if (seen.has(token.name) && !options[token.name]?.multiple) throw usageError(command, `${token.rawName} is given more than once`);
    seen.add(token.name);
    if (options[token.name]?.type === 'string' && token.value?.trim() === '') throw usageError(command, `${token.rawName} is empty`);
  }
  return parsed.values;
}

/** A flag naming a port to listen on; 0 and absence both mean "any free port". */
export function parseListenPortFlag(command: string, value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const port = readPort(value, 'listen');
  if (typeof port === 'string')
    throw new BridgeError('BRIDGE_ERR_USAGE', `${command}: ${flag} ${port}`, { fix: `pass e.g. ${flag} 6443, or omit it for a free port` });
  return port === 0 ? undefined : port;
}
