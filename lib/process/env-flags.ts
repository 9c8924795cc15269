/**
 * One idiom for components configured by BRIDGE_* variables with flags on top: the component declares
 * its environment map once ({ sourceKubeconfig: 'BRIDGE_SOURCE_KUBECONFIG', ... }) and its flags are
 * derived from it (`--source-kubeconfig`), so a variable can never lack its flag or be named twice.
 */
import type { Env } from './config.js';
import { parseFlags } from './flags.js';

export type EnvMap = Readonly<Record<string, string>>;

/** The settings every server component between the two clusters shares (aggregator, synchronizer). */
export const BRIDGE_SERVER_ENV = {
  listenHost: 'BRIDGE_LISTEN_HOST',
  listenPort: 'BRIDGE_LISTEN_PORT',
  opsHost: 'BRIDGE_OPS_HOST',
  opsPort: 'BRIDGE_OPS_PORT',
  tlsDir: 'BRIDGE_TLS_DIR',
  sourceKubeconfig: 'BRIDGE_SOURCE_KUBECONFIG',
  destinationKubeconfig: 'BRIDGE_DESTINATION_KUBECONFIG',
  /** Both elect a leader on a Lease in the destination (lib/kube/leader-lease.ts). */
  leaseDurationSeconds: 'BRIDGE_LEASE_DURATION_SECONDS',
} as const;

/** camelCase setting name -> kebab-case flag name. */
export function flagName(setting: string): string {
  return setting.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * The environment with each given flag's value written over its variable. Boolean settings take no
 * value on the command line (`--self-provision` sets its variable to "true").
 */
export function envWithFlags(command: string, envMap: EnvMap, args: string[], env: Env = process.env, booleanSettings: readonly string[] = []): Env {
  const options = Object.fromEntries(
    Object.keys(envMap).map((setting) => [flagName(setting), { type: booleanSettings.includes(setting) ? ('boolean' as const) : ('string' as const) }]),
  );
  const values = parseFlags(command, args, options);
  const out: Env = { ...env };
  for (const [setting, variable] of Object.entries(envMap)) {
    const value = values[flagName(setting)];
    if (value !== undefined) out[variable] = String(value);
  }
  return out;
}

/** `--flag` / `BRIDGE_VAR` lines for --help. */
export function describeFlags(envMap: EnvMap): string {
  return Object.entries(envMap)
    .map(([setting, variable]) => `  --${flagName(setting).padEnd(28)} ${variable}`)
    .join('\n');
}
