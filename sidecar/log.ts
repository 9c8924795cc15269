/**
 * The sidecar's logger: pino-shaped JSON lines on stdout without pino. pino and its worker-thread
 * transport machinery cost several MB of private memory per pod; the sidecar logs a handful of lines
 * in its life (start, breaker changes, reloads, shutdown), never per request, so a few lines of code do.
 * The calling convention is pino's (`log.warn({fields}, 'message')`), so a pino logger can be passed
 * in instead (tests do). Redaction is stricter than lib/process/logger.ts's paths: a field named like a
 * credential is replaced at any depth, and bearer tokens are scrubbed from the finished line.
 */

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

type LogFn = (fieldsOrMessage: unknown, message?: string) => void;

/** What the sidecar calls; pino's Logger satisfies it structurally. */
export interface SidecarLog {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

/** pino's numeric levels, so log pipelines parse both the same way. */
const LEVELS: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

/** Field names (lower case) that may carry credentials or secret data, as in lib/process/logger.ts's REDACTED_PATHS. */
const SECRET_FIELDS = new Set(['token', 'authorization', 'cookie', 'data', 'secret', 'key', 'privatekey', 'password']);
const CENSOR = '[redacted]';
const BEARER = /\b(Bearer|Basic)\s+[^\s"\\]+/gi;
const MAX_DEPTH = 6;

function redact(value: unknown, depth: number): unknown {
  if (value instanceof Error)
    return {
      type: value.name,
      message: value.message,
      ...((value as { code?: string }).code !== undefined ? { code: (value as { code?: string }).code } : {}),
    };
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[object]';
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(value)) out[name] = SECRET_FIELDS.has(name.toLowerCase()) ? CENSOR : redact(field, depth + 1);
  return out;
}

/** One JSON line as pino would write it (level, time, pid, name, component, fields, msg), redacted. */
export function formatLogLine(level: number, component: string, fieldsOrMessage: unknown, message?: string): string {
  const record: Record<string, unknown> = { level, time: Date.now(), pid: process.pid, name: `cluster-bridge-${component}`, component };
  if (typeof fieldsOrMessage === 'string') record.msg = fieldsOrMessage;
  else {
    if (fieldsOrMessage !== null && typeof fieldsOrMessage === 'object') Object.assign(record, redact(fieldsOrMessage, 0));
    if (message !== undefined) record.msg = message;
  }
  return `${JSON.stringify(record).replace(BEARER, `$1 ${CENSOR}`)}\n`;
}

export function createSidecarLog(
  component = 'sidecar',
  level: string = process.env.BRIDGE_LOG_LEVEL ?? 'info',
  write: (line: string) => void = (line) => void process.stdout.write(line),
): SidecarLog {
  const threshold = LEVELS[level as LogLevel] ?? LEVELS.info;
  const at = (n: number): LogFn => (n < threshold ? () => {} : (fields, message) => write(formatLogLine(n, component, fields, message)));
  return { debug: at(LEVELS.debug), info: at(LEVELS.info), warn: at(LEVELS.warn), error: at(LEVELS.error) };
}
