// The way back from a failed `lab install --replace` (lab/install-restore.ts) with real processes: a
// daemon read as it runs starts again with its own command line and environment (not the caller's), on
// its ports, and the install's error says so; ports of the earlier install are kept while free.
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureEarlierInstall, portsFor, restoreEarlierInstall } from '../../lab/install-restore.js';
import { isDaemonAlive, startDaemon, stopDaemon, type DaemonRecord } from '../../lab/process.js';
import { BridgeError } from '../../lib/errors.js';
import { freePort } from '../../lab/ports.js';

// A component's stand-in: answers /readyz on BRIDGE_OPS_PORT with the value of STAND_IN_SETTING.
const STAND_IN = `require('node:http').createServer((q, s) => s.end(process.env.STAND_IN_SETTING)).listen(Number(process.env.BRIDGE_OPS_PORT), '127.0.0.1')`;
const started: DaemonRecord[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((d) => stopDaemon(d)));
});

async function standIn(setting: string): Promise<DaemonRecord> {
  const ports = [await freePort(), await freePort()];
  const log = join(mkdtempSync(join(tmpdir(), 'restore-')), 'stand-in.log');
  const daemon = startDaemon('stand-in', process.execPath, ['-e', STAND_IN], log, ports, { BRIDGE_OPS_PORT: String(ports[1]), STAND_IN_SETTING: setting });
  started.push(daemon);
  for (let i = 0; i < 100 && !(await fetch(`http://127.0.0.1:${ports[1]}/readyz`).catch(() => undefined)); i++) await new Promise((r) => setTimeout(r, 50));
  return daemon;
}

describe('restoring the earlier install', () => {
  it('starts a stopped component again with its own environment on its ports, and says so in the install error', async () => {
    const earlier = await standIn('earlier');
    const captured = captureEarlierInstall([earlier]);
    expect([captured.launches.length, captured.unreadable]).toEqual([1, []]);
    await stopDaemon(earlier);
    // The caller's environment differs (as a broken setting would): the restarted daemon keeps its own.
    process.env.STAND_IN_SETTING = 'the caller';
    const recorded: DaemonRecord[][] = [];
    try {
      const failure = new BridgeError('BRIDGE_ERR_LAB_START_FAILED', 'the lab aggregator exited during start-up', { fix: 'read its log' });
      const error = await restoreEarlierInstall(failure, captured, (daemons) => recorded.push([...daemons]));
      started.push(...recorded.at(-1)!);
      expect(error).toBeInstanceOf(BridgeError);
      expect((error as BridgeError).toLine()).toBe(
        'BRIDGE_ERR_LAB_START_FAILED: the lab aggregator exited during start-up; the earlier install runs again: stand-in (fix: read its log)',
      );
    } finally {
      delete process.env.STAND_IN_SETTING;
    }
    const again = recorded.at(-1)![0]!;
    expect([again.pid === earlier.pid, again.ports, isDaemonAlive(again)]).toEqual([false, earlier.ports, true]);
    expect(await (await fetch(`http://127.0.0.1:${again.ports[1]}/readyz`)).text()).toBe('earlier');
  });

  it('names what it could not read, and returns the failure as it was when nothing ran before', async () => {
    const gone = await standIn('gone');
    await stopDaemon(gone);
    const captured = captureEarlierInstall([gone]);
    expect(captured).toEqual({ launches: [], unreadable: ['stand-in'] });
    const failure = new Error('boom');
    expect(errorLine(await restoreEarlierInstall(failure, captured, () => undefined))).toBe(
      'BRIDGE_ERR_LAB_START_FAILED: boom; not restarted (their command lines could not be read): stand-in',
    );
    expect(await restoreEarlierInstall(failure, { launches: [], unreadable: [] }, () => undefined)).toBe(failure);
  });

  it('keeps a component’s earlier ports while both are free, and picks new ones when one is taken', async () => {
    const ports = [await freePort(), await freePort()];
    const earlier: DaemonRecord[] = [{ name: 'webhook', pid: 0, binary: 'node', logFile: '', ports }];
    expect(await portsFor(earlier, 'webhook')).toEqual(ports);
    const taken = createServer().listen(ports[1], '127.0.0.1');
    await new Promise((resolve) => taken.once('listening', resolve));
    try {
      const fresh = await portsFor(earlier, 'webhook');
      expect(fresh).not.toContain(ports[1]);
      expect(fresh).toHaveLength(2);
    } finally {
      taken.close();
    }
    expect(await portsFor(earlier, 'sidecar')).not.toEqual(ports);
  });
});

const errorLine = (err: unknown) => (err as BridgeError).toLine().replace(/ \(fix: .*\)$/, '');
