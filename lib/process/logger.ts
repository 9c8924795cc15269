import { pino, type Logger, type LoggerOptions } from 'pino';

/** Paths that may carry credentials or secret data; pino replaces them before anything is written. */
export const REDACTED_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  '*.data',
  'secret',
  '*.secret',
  'key',
  '*.key',
  'privateKey',
  '*.privateKey',
];

export type { Logger };

/** One logger per process; components add their name as a child field. */
export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  return pino({
    name: `cluster-bridge-${component}`,
    level: process.env.BRIDGE_LOG_LEVEL ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { component },
    ...options,
  });
}
