/** For unit tests of the synchronizer's mirrors: counters that record nothing, and the ConfigMap type's API. */
import type { MirrorCounters, ShardApi } from '../../synchronizer/shard-mirror.js';

export const quietCounters: MirrorCounters = {
  written: () => undefined,
  failed: () => undefined,
  ownerReferenceDropped: () => undefined,
  conflict: () => undefined,
  lag: () => undefined,
};

export const CONFIGMAPS_API: ShardApi = { prefix: '/api/v1', resource: 'configmaps', namespaced: true };
