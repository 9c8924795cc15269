/** Start-up configuration helpers: every bad value fails fast with a message naming the field. */
import { existsSync } from 'node:fs';
import { BridgeError } from '../errors.js';

export type Env = Record<string, string | undefined>;

function bad(field: string, problem: string): BridgeError {
  return new BridgeError('BRIDGE_ERR_CONFIG', `${field} ${problem}`, { fix: `set ${field} correctly and restart` });
}

export function requiredString(env: Env, field: string): string {
  const value = env[field]?.trim();
  if (!value) throw bad(field, 'is required but empty or unset');
  return value;
}

export function optionalString(env: Env, field: string, fallback: string): string {
  const value = env[field]?.trim();
  return value ? value : fallback;
}

/**
 * The one reading of a port number. A port to listen on may be 0 (the kernel picks a free one); a
 * port to connect to may not. Returns a problem phrase, or the port.
 */
export function readPort(raw: string, purpose: 'listen' | 'connect'): number | string {
  const lowest = purpose === 'listen' ? 0 : 1;
  const port = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(port >= lowest && port <= 65535)) return `must be a port number ${lowest}-65535${purpose === 'listen' ? ' (0: any free port)' : ''}, got "${raw}"`;
  return port;
}

/** A port to listen on from the environment (0 allowed: any free port). */
export function portNumber(env: Env, field: string, fallback?: number): number {
  const raw = env[field]?.trim();
  if (!raw) {
    if (fallback === undefined) throw bad(field, 'is required but empty or unset');
    return fallback;
  }
  const port = readPort(raw, 'listen');
  if (typeof port === 'string') throw bad(field, port);
  return port;
}

export function positiveNumber(env: Env, field: string, fallback: number): number {
  const raw = env[field]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw bad(field, `must be a positive number, got "${raw}"`);
  return value;
}

/** Leader-election timing (client-go's LeaseDuration, renewed every third of it): at least 3 s, default 30. */
export function leaseTiming(env: Env, field: string): { leaseDurationSeconds: number; leaseRenewSeconds: number } {
  const leaseDurationSeconds = positiveNumber(env, field, 30);
  if (leaseDurationSeconds < 3) throw bad(field, `must be at least 3 (seconds), got ${leaseDurationSeconds}`);
  return { leaseDurationSeconds, leaseRenewSeconds: Math.max(1, Math.floor(leaseDurationSeconds / 3)) };
}

export function oneOf<T extends string>(env: Env, field: string, allowed: readonly T[], fallback: T): T {
  const raw = env[field]?.trim();
  if (!raw) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw bad(field, `must be one of ${allowed.join(', ')}, got "${raw}"`);
  return raw as T;
}

/**
 * The one reading of an address to connect to: host:port, [IPv6]:port, or either after https://.
 * Returns a problem phrase, or the address.
 */
export function readHostPort(raw: string): { host: string; port: number } | string {
  const match = /^(?:https:\/\/)?(\[[0-9a-fA-F:.]+\]|[^:\s/[\]]+):([^:/\s]*)\/?$/.exec(raw);
  const problem = `must be host:port, [ipv6]:port or https://host:port, got "${raw}"`;
  if (!match) return problem;
  const port = readPort(match[2]!, 'connect');
  if (typeof port === 'string') return `${problem}: the port ${port}`;
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

/** An address to connect to from the environment. */
export function hostPort(env: Env, field: string, required = true): { host: string; port: number } | undefined {
  const raw = env[field]?.trim();
  if (!raw) {
    if (required) throw bad(field, 'is required but empty or unset');
    return undefined;
  }
  const address = readHostPort(raw);
  if (typeof address === 'string') throw bad(field, address);
  return address;
}

/** A kubeconfig setting's value meaning: the pod's own ServiceAccount (token, CA and KUBERNETES_SERVICE_HOST/PORT). */
export const IN_CLUSTER = 'in-cluster';

/** A kubeconfig file that exists, or IN_CLUSTER. Explicit: an unset variable stays an error, never a silent fallback. */
export function kubeconfigSetting(env: Env, field: string): string {
  const value = env[field]?.trim();
  if (!value) throw bad(field, `is required but empty or unset: a kubeconfig file, or "${IN_CLUSTER}" for the pod's ServiceAccount`);
  return value === IN_CLUSTER ? IN_CLUSTER : existingFile(env, field);
}

export function existingFile(env: Env, field: string): string {
  const path = requiredString(env, field);
  if (!existsSync(path)) throw bad(field, `names a file that does not exist: ${path}`);
  return path;
}
