/**
 * Like private-lab.ts (imported FIRST; `stopPrivateLab()` in afterAll), with a real node per cluster
 * (`lab up --real-node`, lab/node/): the kubelet, containerd and runc run pods. Its first start builds
 * the kubelet (about 2 min with a warm Go cache) and may install Debian packages.
 */
import { DEFAULT_SERVICE_CIDR } from '../../lab/lab-request.js';
import { startLabOfItsOwn } from './lab-of-its-own.js';

export const stopPrivateLab: () => Promise<void> = startLabOfItsOwn(DEFAULT_SERVICE_CIDR, ['--real-node']);
