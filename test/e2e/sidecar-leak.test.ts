/**
 * Leak test against the real API server, with the sidecar as its own process (started as the image
 * starts it): after 10,000 requests and 500 watch connects and disconnects, its open file descriptors
 * return to baseline (plus at most the idle keep-alive pool to the API server), nothing is in flight,
 * and its memory stays within a generous bound. No timing thresholds.
 */
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { createNamespace } from '../helpers/lab-clients.js';
import { serviceAccountToken, startLabSidecarProcess } from '../helpers/sidecar-lab.js';

const CONCURRENCY = 16;

describe('sidecar leak test', () => {
  it('returns to baseline sockets and memory after 10,000 requests and 500 watches', async () => {
    const sc = await startLabSidecarProcess();
    const pid = sc.child.pid!;
    const fds = () => readdirSync(`/proc/${pid}/fd`).length;
    const anonMb = () => Number(/^Anonymous:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))![1]) / 1024;
    const metric = async (name: string) => {
      const text = await (await fetch(`http://127.0.0.1:${sc.opsPort}/metrics`)).text();
      return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
    };
    try {
      const namespace = await createNamespace('source', 'sc-leak');
      const token = await serviceAccountToken(namespace);
      const headers = { authorization: `Bearer ${token}` };
      const get = (agent: Agent) =>
        new Promise<number>((resolve, reject) => {
          const req = request(`${sc.server}/api/v1/namespaces/${namespace}/configmaps/kube-root-ca.crt`, { ca: sc.caBundlePem, agent, headers }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode!));
          });
          req.on('error', reject);
          req.end();
        });
      const watchAndLeave = () =>
        new Promise<void>((resolve, reject) => {
          const req = request(
            `${sc.server}/api/v1/namespaces/${namespace}/configmaps?watch=true`,
            { ca: sc.caBundlePem, agent: false, headers },
            (res: IncomingMessage) => {
              // Reject rather than expect(): an assertion thrown in a callback escapes the test as an uncaught error.
              req.destroy();
              if (res.statusCode === 200) resolve();
              else reject(new Error(`watch through the sidecar answered HTTP ${res.statusCode}`));
            },
          );
          req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? resolve() : reject(err)));
          req.end();
        });

      // Warm up so pools, TLS sessions and JIT are in the baseline.
      const warm = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
      await Promise.all(Array.from({ length: CONCURRENCY * 8 }, () => get(warm)));
      warm.destroy();
      const settle = async () => {
        for (let i = 0; i < 200 && (await metric('cluster_bridge_sidecar_active_requests')) > 0; i++) await sleep(20);
      };
      await settle();
      const baseFds = fds();
      const basePool = await metric('cluster_bridge_sidecar_backend_sockets\\{backend="upstream"\\}');
      const baseAnon = anonMb();

      const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
      let sent = 0;
      let ok = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (sent < 10_000) {
            sent++;
            if ((await get(agent)) === 200) ok++;
          }
        }),
      );
      expect(ok).toBeGreaterThanOrEqual(10_000);
      let watches = 0;
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          while (watches < 500) {
            watches++;
            await watchAndLeave();
          }
        }),
      );
      agent.destroy();

      await settle();
      expect(await metric('cluster_bridge_sidecar_active_requests')).toBe(0);
      const pooled = await metric('cluster_bridge_sidecar_backend_sockets\\{backend="upstream"\\}');
      // Idle keep-alive sockets to the API server may stay pooled, bounded by the concurrency used.
      expect(pooled).toBeLessThanOrEqual(CONCURRENCY + basePool);
      for (let i = 0; i < 200 && fds() > baseFds + Math.max(0, pooled - basePool); i++) await sleep(20);
      expect(fds()).toBeLessThanOrEqual(baseFds + Math.max(0, pooled - basePool));
      // Generous: 10,000 leaked requests or 500 leaked watches would hold far more than this.
      expect(anonMb() - baseAnon).toBeLessThan(64);
    } finally {
      sc.child.kill('SIGTERM');
    }
  });
});
