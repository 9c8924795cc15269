import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reloadOnChange, type CertSource, type ReloadLoop } from '../../lib/tls/certificate-source.js';
import { waitUntil } from '../../lib/wait-until.js';

const dir = mkdtempSync(join(tmpdir(), 'cert-reload-'));
const file = join(dir, 'material.txt');
let loop: ReloadLoop | undefined;
afterEach(() => loop?.close());

/** A source over one file: "bad" fails to load, like a half-written certificate. */
function fileSource(watchDir?: string): CertSource<string> & { loads: number } {
  const source = {
    loads: 0,
    load() {
      source.loads++;
      const text = readFileSync(file, 'utf8');
      if (text === 'bad') throw new Error('does not parse');
      return text;
    },
    same: (a: string, b: string) => a === b,
    watchDir,
  };
  return source;
}

describe('reloadOnChange', () => {
  it('hands over changed material once, keeps the old material when a load fails, and ignores loads that are the same', async () => {
    writeFileSync(file, 'one');
    const source = fileSource();
    const changes: string[] = [];
    const errors: string[] = [];
    loop = reloadOnChange(source, 'one', { onChange: (next) => changes.push(next), onError: (err) => errors.push(String(err)) }, 20);
    await waitUntil('a few polls', () => source.loads >= 3);
    expect(changes).toEqual([]);
    writeFileSync(file, 'bad');
    await waitUntil('the failed load reported', () => errors.length > 0);
    expect(errors[0]).toContain('does not parse');
    expect(changes).toEqual([]);
    writeFileSync(file, 'two');
    await waitUntil('the change handed over', () => changes.length > 0);
    const loadsAfterChange = source.loads;
    await waitUntil('more polls', () => source.loads >= loadsAfterChange + 3);
    expect(changes).toEqual(['two']);
  });

  it('looks early when the watched folder changes, long before the poll', async () => {
    writeFileSync(file, 'one');
    const changes: string[] = [];
    loop = reloadOnChange(fileSource(dir), 'one', { onChange: (next) => changes.push(next), onError: () => undefined }, 3_600_000);
    writeFileSync(file, 'three');
    await waitUntil('the change handed over by the folder watch', () => changes.length > 0, { timeoutMs: 20_000 });
    expect(changes).toEqual(['three']);
  });

  it('stops looking once closed', async () => {
    writeFileSync(file, 'one');
    const source = fileSource();
    loop = reloadOnChange(source, 'one', { onChange: () => undefined, onError: () => undefined }, 10);
    await waitUntil('a poll', () => source.loads > 0);
    loop.close();
    const loads = source.loads;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(source.loads).toBeLessThanOrEqual(loads + 1); // at most one load already under way
  });
});

describe('waitUntil', () => {
  it('returns the first value that is not undefined or false, retrying errors', async () => {
    let calls = 0;
    const value = await waitUntil(
      'the third call',
      () => {
        calls++;
        if (calls === 1) throw new Error('not listening yet');
        return calls >= 3 ? `call ${calls}` : false;
      },
      { intervalMs: 1 },
    );
    expect(value).toBe('call 3');
  });

  it('times out naming what it waited for and the last error', async () => {
    await expect(
      waitUntil(
        'the moon',
        () => {
          throw new Error('ECONNREFUSED');
        },
        { timeoutMs: 50, intervalMs: 5 },
      ),
    ).rejects.toThrow('timed out after 0.05 s waiting for the moon; last error: ECONNREFUSED');
  });

  it("fails at once on a failed assertion inside the probe, and on abandon, with the caller's error type", async () => {
    // An hour's wait: were the assertion taken for "not yet", the test would time out instead.
    await expect(waitUntil('an assertion', () => expect(1).toBe(2), { timeoutMs: 3_600_000 })).rejects.toThrow('toBe');
    class Typed extends Error {}
    await expect(waitUntil('a dead process', () => undefined, { abandon: () => 'it exited', failure: (m) => new Typed(m) })).rejects.toEqual(
      new Typed('gave up waiting for a dead process: it exited'),
    );
  });
});

process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
