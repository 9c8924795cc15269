/**
 * Like private-lab.ts (imported FIRST; `stopPrivateLab()` in afterAll), with a destination whose
 * service range does not overlap the source's (10.96.0.0/16): every ClusterIP the source allocated is
 * outside it, so the destination refuses those Services' copies (DESIGN.md section 3, preflight).
 */
import { startLabOfItsOwn } from './lab-of-its-own.js';

export const DESTINATION_SERVICE_CIDR = '10.200.0.0/16';

export const stopPrivateLab: () => Promise<void> = startLabOfItsOwn(DESTINATION_SERVICE_CIDR);
