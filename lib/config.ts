/** Start-up configuration helpers: every bad value fails fast with a message naming the field. */
import { existsSync } from 'node:fs';
import { BridgeError } from './errors.js';

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

export function portNumber(env: Env, field: string, fallback?: number): number {
  const raw = env[field]?.trim();
  if (!raw) {
    if (fallback === undefined) throw bad(field, 'is required but empty or unset');
    return fallback;
  }
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw bad(field, `must be a port number 0-65535, got "${raw}"`);
  return port;
}

export function positiveNumber(env: Env, field: string, fallback: number): number {
  const raw = env[field]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw bad(field, `must be a positive number, got "${raw}"`);
  return value;
}

export function oneOf<T extends string>(env: Env, field: string, allowed: readonly T[], fallback: T): T {
  const raw = env[field]?.trim();
  if (!raw) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw bad(field, `must be one of ${allowed.join(', ')}, got "${raw}"`);
  return raw as T;
}

/** host:port with a port; IPv6 hosts in brackets. */
export function hostPort(env: Env, field: string, required = true): { host: string; port: number } | undefined {
  const raw = env[field]?.trim();
  if (!raw) {
    if (required) throw bad(field, 'is required but empty or unset');
    return undefined;
  }
  const match = /^(\[[0-9a-fA-F:]+\]|[^:\s/]+):(\d{1,5})$/.exec(raw.replace(/^https:\/\//, ''));
  if (!match || Number(match[2]) > 65535) throw bad(field, `must be host:port (or https://host:port), got "${raw}"`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]) };
}

export function existingFile(env: Env, field: string): string {
  const path = requiredString(env, field);
  if (!existsSync(path)) throw bad(field, `names a file that does not exist: ${path}`);
  return path;
}
