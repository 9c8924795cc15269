/**
 * One idiom for components configured by BRIDGE_* variables with flags on top: the component declares
 * its environment map once ({ sourceKubeconfig: 'BRIDGE_SOURCE_KUBECONFIG', ... }) and its flags are
 * derived from it (`--source-kubeconfig`), so a variable can never lack its flag or be named twice.
 */
import { parseArgs } from 'node:util';
import { BridgeError, errorMessage } from './errors.js';
import type { Env } from './config.js';

export type EnvMap = Readonly<Record<string, string>>;

/** camelCase setting name -> kebab-case flag name. */
export function flagName(setting: string): string {
  return setting.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The environment with each given flag's value written over its variable. */
export function envWithFlags(command: string, envMap: EnvMap, args: string[], env: Env = process.env): Env {
  const options = Object.fromEntries(Object.keys(envMap).map((setting) => [flagName(setting), { type: 'string' as const }]));
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    values = parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new BridgeError('BRIDGE_ERR_USAGE', `${command}: ${errorMessage(err)}`, { fix: `run \`bridgectl ${command} --help\`` });
  }
  const out: Env = { ...env };
  for (const [setting, variable] of Object.entries(envMap)) {
    const value = values[flagName(setting)];
    if (typeof value === 'string') out[variable] = value;
  }
  return out;
}

/** `--flag` / `BRIDGE_VAR` lines for --help. */
export function describeFlags(envMap: EnvMap): string {
  return Object.entries(envMap)
    .map(([setting, variable]) => `  --${flagName(setting).padEnd(28)} ${variable}`)
    .join('\n');
}
