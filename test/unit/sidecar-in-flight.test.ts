import { describe, expect, it } from '@jest/globals';
import { InFlight, isLongRunning } from '../../sidecar/in-flight.js';
import { waitUntil } from '../../lib/wait-until.js';

describe('InFlight', () => {
  it('ends running watches on shutdown, and a watch that starts after shutdown began as soon as it is set up', async () => {
    const inFlight = new InFlight();
    const ended: string[] = [];
    inFlight.addLongRunning(() => ended.push('before'));
    inFlight.draining = true;
    inFlight.endLongRunning();
    expect(ended).toEqual(['before']);
    // Before the fix this one was only cut at the grace deadline.
    inFlight.addLongRunning(() => ended.push('after'));
    await waitUntil('the late watch to be ended', () => ended.includes('after'), { timeoutMs: 5000, intervalMs: 1 });
    expect(inFlight.longRunningCount).toBe(0);
  });

  it('does not end a watch while no shutdown is under way', async () => {
    const inFlight = new InFlight();
    const ended: string[] = [];
    const unregister = inFlight.addLongRunning(() => ended.push('watch'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(ended).toEqual([]);
    expect(inFlight.longRunningCount).toBe(1);
    unregister();
    expect(inFlight.longRunningCount).toBe(0);
  });

  it.each([
    ['/api/v1/pods?watch=true', true],
    ['/api/v1/namespaces/a/pods/p/log?follow=true', true],
    ['/api/v1/watch/pods', true],
    ['/apis/apps/v1/watch/deployments', true],
    ['/api/v1/pods?watch=false', false],
    ['/api/v1/pods', false],
  ])('%s is long-running: %s', (url, expected) => {
    expect(isLongRunning(url)).toBe(expected);
  });
});
