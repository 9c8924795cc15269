import { describe, expect, it } from '@jest/globals';
import { progressBar, renderSyncStatus } from '../../cli/sync-status.js';
import type { MirrorProgress } from '../../synchronizer/shard-mirror.js';

const mirror = (over: Partial<MirrorProgress>): MirrorProgress => ({
  shard: 'configmaps',
  direction: 'source->destination',
  phase: 'watching',
  total: 10,
  done: 10,
  initialSyncComplete: true,
  syncedRV: '120',
  pendingEvents: 0,
  oldestPendingMs: 0,
  errors: {},
  conflicts: 0,
  lag: { count: 0, p50Ms: 0, p99Ms: 0 },
  ...over,
});

describe('bridgectl sync status rendering', () => {
  it('draws a bar of the done share, full for an empty shard, never past full', () => {
    expect(progressBar(0, 10)).toBe(`[${'.'.repeat(20)}]`);
    expect(progressBar(5, 10)).toBe(`[${'#'.repeat(10)}${'.'.repeat(10)}]`);
    expect(progressBar(0, 0)).toBe(`[${'#'.repeat(20)}]`);
    expect(progressBar(11, 10)).toBe(`[${'#'.repeat(20)}]`);
  });

  it('shows each shard with its phase, progress, pending events and errors, and the last error', () => {
    const text = renderSyncStatus({
      identity: 'sync-a',
      leading: true,
      shards: ['configmaps', 'services'],
      mirrors: [
        mirror({
          shard: 'services',
          phase: 'reconciling',
          done: 3,
          total: 12,
          initialSyncComplete: false,
          errors: { write: 2 },
          lastError: 'HTTP 422: spec.clusterIP: Invalid value',
        }),
        mirror({ pendingEvents: 4, oldestPendingMs: 35, conflicts: 2, lag: { count: 40, p50Ms: 12.4, p99Ms: 80.6 } }),
      ],
    });
    const lines = text.split('\n');
    expect(lines[0]).toBe('synchronizer sync-a: leading, mirroring 2 of 2 shards');
    expect(lines[1]).toMatch(/\sPENDING\s+CONFLICTS\s+LAG P50\/P99\s+ERRORS$/);
    expect(lines[2]).toMatch(/^configmaps\s+source->destination\s+watching\s+\[#{20}\] 10\/10\s+120\s+4, oldest 35 ms\s+2\s+12\/81 ms\s+-$/);
    expect(lines[3]).toMatch(/^services\s+source->destination\s+reconciling\s+\[#{5}\.{15}\] 3\/12 \(initial\)\s+120\s+0\s+0\s+-\s+write 2$/);
    expect(lines[4]).toBe('services: last error: HTTP 422: spec.clusterIP: Invalid value');
  });

  it('counts a carried type mirrored both ways as one shard of its list', () => {
    const text = renderSyncStatus({
      identity: 'sync-a',
      leading: true,
      shards: ['configmaps', 'services'],
      mirrors: [mirror({}), mirror({ direction: 'destination->source' }), mirror({ shard: 'services' })],
    });
    expect(text.split('\n')[0]).toBe('synchronizer sync-a: leading, mirroring 2 of 2 shards (3 mirrors, some both ways)');
  });

  it('says when the replica asked is standing by', () => {
    expect(renderSyncStatus({ identity: 'sync-b', leading: false, shards: ['configmaps'], mirrors: [] })).toContain('standing by');
  });
});
