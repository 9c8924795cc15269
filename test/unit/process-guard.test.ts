// The process guard (lib/process/guard.ts): an unhandled rejection is logged and counted in the
// component's metrics and the process goes on; an uncaught exception is logged and the process exits 70.
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../lib/process/paths.js';
import { createRegistry } from '../../lib/process/ops-server.js';
import { guardProcess, slipped, UNCAUGHT_EXIT_CODE } from '../../lib/process/guard.js';
import { createSidecarMetrics } from '../../sidecar/metrics.js';

describe('guardProcess', () => {
  it('logs and counts an unhandled rejection without exiting, and shows the count in every component registry', () => {
    const lines: string[] = [];
    const exits: number[] = [];
    const unguard = guardProcess({ error: (fields, message) => lines.push(`${message} ${JSON.stringify(fields)}`) }, (code) => exits.push(code));
    const registry = createRegistry('synchronizer');
    const sidecar = createSidecarMetrics({ activeRequests: () => 0, upgradedStreams: () => 0, backendSockets: () => ({ upstream: 0, local: 0 }) });
    const before = slipped.unhandledRejections;
    try {
      // Jest keeps the test realm's own rejections to itself: the event is what Node emits for one.
      process.emit('unhandledRejection', new Error('DELETE /api/v1/namespaces/a/configmaps/b: timeout after 10000 ms'), Promise.resolve());
    } finally {
      unguard();
    }
    expect(slipped.unhandledRejections).toBe(before + 1);
    expect(exits).toEqual([]);
    expect(lines.join('\n')).toMatch(/unhandled promise rejection.*timeout after 10000 ms/);
    return Promise.all([registry.metrics(), sidecar.registry.metrics()]).then(([component, sidecarText]) => {
      expect(component).toMatch(new RegExp(`^cluster_bridge_synchronizer_unhandled_rejections_total ${before + 1}$`, 'm'));
      expect(sidecarText).toMatch(new RegExp(`^cluster_bridge_sidecar_unhandled_rejections_total ${before + 1}$`, 'm'));
    });
  });

  it('keeps a real process running after an unhandled rejection (Node exits on one without the guard)', () => {
    const script = (guarded: boolean) =>
      `import { guardProcess } from '${join(repoRoot(), 'dist', 'lib', 'process', 'guard.js')}';` +
      `${guarded ? 'guardProcess({ error: () => undefined });' : ''}` +
      `Promise.reject(new Error('timeout after 10000 ms'));` +
      `setTimeout(() => { process.stdout.write('still running'); }, 100);`;
    const run = (guarded: boolean) => spawnSync(process.execPath, ['--input-type=module', '-e', script(guarded)], { encoding: 'utf8' });
    const guarded = run(true);
    expect([guarded.status, guarded.stdout]).toEqual([0, 'still running']);
    const bare = run(false);
    expect(bare.status).not.toBe(0);
    expect(bare.stdout).toBe('');
  });

  it('logs an uncaught exception and exits with 70 (the state is undefined after it)', () => {
    const lines: string[] = [];
    const exits: number[] = [];
    const unguard = guardProcess({ error: (_fields, message) => lines.push(message) }, (code) => exits.push(code));
    try {
      (process.emit as (event: string, ...args: unknown[]) => boolean)('uncaughtException', new Error('boom'), 'uncaughtException');
    } finally {
      unguard();
    }
    expect(exits).toEqual([UNCAUGHT_EXIT_CODE]);
    expect(lines[0]).toContain('uncaught exception');
  });
});
