/** The sidecar's own JSON-lines logger: pino-compatible lines, levels, and redaction of credentials. */
import { describe, expect, it } from '@jest/globals';
import { createSidecarLog, formatLogLine } from '../../sidecar/log.js';

function capture(level: string) {
  const lines: string[] = [];
  const log = createSidecarLog('sidecar', level, (line) => lines.push(line));
  return { log, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('sidecar log', () => {
  it('writes one pino-shaped JSON line per call (numeric level, name, component, fields, msg)', () => {
    const { log, lines, records } = capture('info');
    log.info({ port: 16443, upstream: { host: 'agg', port: 443 } }, 'sidecar listening');
    log.warn('plain message');
    expect(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
    const [first, second] = records();
    expect(first).toMatchObject({
      level: 30,
      name: 'cluster-bridge-sidecar',
      component: 'sidecar',
      port: 16443,
      upstream: { host: 'agg', port: 443 },
      msg: 'sidecar listening',
    });
    expect(typeof first!.time).toBe('number');
    expect(first!.pid).toBe(process.pid);
    expect(second).toMatchObject({ level: 40, msg: 'plain message' });
  });

  it.each([
    ['debug', ['debug', 'info', 'warn', 'error']],
    ['info', ['info', 'warn', 'error']],
    ['warn', ['warn', 'error']],
    ['error', ['error']],
    ['silent', []],
    ['nonsense-falls-back-to-info', ['info', 'warn', 'error']],
  ] as const)('level %s writes %j', (level, expected) => {
    const { log, records } = capture(level);
    for (const method of ['debug', 'info', 'warn', 'error'] as const) log[method]({}, method);
    expect(records().map((r) => r.msg)).toEqual(expected);
  });

  it.each([
    ['token field', { token: 'abc.def.ghi' }, 'abc.def.ghi'],
    ['nested authorization header', { req: { headers: { Authorization: 'Bearer abc.def.ghi' } } }, 'abc.def.ghi'],
    ['cookie', { req: { headers: { cookie: 'session=s3cr3t' } } }, 's3cr3t'],
    ['secret data', { object: { data: { password: 'hunter2' } } }, 'hunter2'],
    ['private key', { tls: { key: '-----BEGIN PRIVATE KEY-----xyz' } }, 'BEGIN PRIVATE KEY'],
    ['bearer token inside a message field', { err: 'upstream said: Authorization: Bearer abc.def.ghi invalid' }, 'abc.def.ghi'],
    ['bearer token inside an array', { items: ['x', { headers: ['Authorization', 'Bearer abc.def.ghi'] }] }, 'abc.def.ghi'],
  ])('redacts %s', (_name, fields, secret) => {
    const line = formatLogLine(30, 'sidecar', fields, 'message');
    expect(line).not.toContain(secret);
    expect(line).toContain('[redacted]');
  });

  it('keeps harmless fields and serializes errors by name and message', () => {
    const err = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const record = JSON.parse(formatLogLine(50, 'sidecar', { backend: 'upstream', err }, 'failed')) as Record<string, unknown>;
    expect(record).toMatchObject({ backend: 'upstream', err: { type: 'Error', message: 'connect ECONNREFUSED', code: 'ECONNREFUSED' }, msg: 'failed' });
  });
});
