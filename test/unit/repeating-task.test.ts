import { describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { RepeatingTask } from '../../lib/process/repeating-task.js';
import { waitUntil } from '../../lib/wait-until.js';

describe('RepeatingTask', () => {
  it('runs again after each run ends, never two at once, and goes on after a failed run', async () => {
    let runs = 0;
    let running = 0;
    let overlapped = false;
    const errors: unknown[] = [];
    const task = new RepeatingTask(
      1,
      async () => {
        runs += 1;
        running += 1;
        overlapped ||= running > 1;
        await sleep(5);
        running -= 1;
        if (runs === 2) throw new Error('second run fails');
      },
      (err) => errors.push(err),
    );
    task.start();
    await waitUntil('four runs', () => runs >= 4, { timeoutMs: 10_000, intervalMs: 5 });
    task.stop();
    expect(overlapped).toBe(false);
    expect(errors.map((e) => (e as Error).message)).toEqual(['second run fails']);
  });

  it('runs no more once stopped, even when stopped during a run', async () => {
    let runs = 0;
    const task = new RepeatingTask(
      1,
      async () => {
        runs += 1;
        task.stop();
        await sleep(2);
      },
      () => undefined,
    );
    task.start();
    await waitUntil('one run', () => runs >= 1, { timeoutMs: 10_000, intervalMs: 5 });
    await sleep(50);
    expect(runs).toBe(1);
  });
});
