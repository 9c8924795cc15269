/**
 * For a test file whose bridge moves shards: the aggregator fences a moved shard on the source
 * cluster-wide (aggregator/handoff/fencing.ts), which would refuse other suites' writes to the shared lab
 * while both run. Imported FIRST by such a file, this module starts a lab of its own
 * (lab-of-its-own.ts) before the file's own module-level code reads kubeconfigs; `stopPrivateLab()`
 * in afterAll stops it.
 *
 * Its destination's service range, 10.96.0.0/12, holds the source's (the default 10.96.0.0/16) and is
 * 16 times larger: a ClusterIP the destination allocated itself would most likely fall outside the
 * source's range, so a test can tell which cluster chose one.
 */
import { startLabOfItsOwn } from './lab-of-its-own.js';

export const DESTINATION_SERVICE_CIDR = '10.96.0.0/12';

export const stopPrivateLab: () => Promise<void> = startLabOfItsOwn(DESTINATION_SERVICE_CIDR);
