// aggregator/request/request-counter.ts: a request is counted once, and a backend that never answers counts
// against itself as unanswered (code 0, an error for the rollout's gates).
import { describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { GateWindow } from '../../aggregator/rollout/gate-window.js';
import { countRequest } from '../../aggregator/request/request-counter.js';

function recorder() {
  const gates = new GateWindow();
  const calls: [string, string, number, string][] = [];
  return {
    gates,
    calls,
    metrics: {
      request: (backend: string, verb: string, code: number, reason: string, seconds?: number) => {
        calls.push([backend, verb, code, reason]);
        gates.record(backend, verb, code, seconds);
      },
    },
  };
}

describe('countRequest', () => {
  it('counts a backend that sends no answer in time as unanswered, once, and not its late answer again', async () => {
    const { metrics, calls, gates } = recorder();
    const counter = countRequest(metrics, 'destination', 'get', 20);
    await sleep(60);
    counter.count(200, 'owner', 0.08);
    expect(calls).toEqual([['destination', 'get', 0, 'no-answer']]);
    expect(gates.summary('destination', 10)).toMatchObject({ requests: 1, errors: 1 });
  });

  it('counts an answer in time once, never times out a watch, and counts nothing for a client that left', async () => {
    const { metrics, calls } = recorder();
    const answered = countRequest(metrics, 'source', 'list', 20);
    answered.count(200, 'owner', 0.001);
    answered.count(503, 'backend-unreachable');
    countRequest(metrics, 'destination', 'watch', 20);
    countRequest(metrics, 'destination', 'get', 20).cancel();
    await sleep(60);
    expect(calls).toEqual([['source', 'list', 200, 'owner']]);
  });
});
