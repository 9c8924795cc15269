/**
 * Check 4: the destination's workload controllers are off (DESIGN.md section 3, "Controllers"). A
 * probe Deployment with no replicas goes into a scratch namespace: a running deployment controller
 * gives it a ReplicaSet (with no pods, so the probe starts nothing even when it fails) or writes its
 * status; an idle one leaves it alone for the whole wait.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DESTINATION_CONTROLLERS_FLAG } from '../../lib/mirror/workload-controllers.js';
import type { KubeApi } from './clusters.js';
import type { CheckResult } from './report.js';
import { withScratchNamespace } from './scratch-namespace.js';

/** How long the probe waits for a ReplicaSet: a running deployment controller answers well within it. */
export const PROBE_WAIT_MS = 5000;
const POLL_MS = 200;
const PROBE = 'preflight-probe';

const probeDeployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: PROBE },
  spec: {
    replicas: 0,
    selector: { matchLabels: { app: PROBE } },
    template: { metadata: { labels: { app: PROBE } }, spec: { containers: [{ name: 'probe', image: 'registry.invalid/cluster-bridge/preflight-probe:0' }] } },
  },
};

/** What shows a deployment controller acted on the probe: the ReplicaSet it made, or the status it wrote. */
async function controllerEvidence(client: KubeApi, namespace: string): Promise<string | undefined> {
  const apps = `/apis/apps/v1/namespaces/${namespace}`;
  const replicaSets = await client.expect<{ items: { metadata: { name: string } }[] }>('GET', `${apps}/replicasets`, [200]);
  const first = replicaSets.body.items[0];
  if (first) return `ReplicaSet ${first.metadata.name}`;
  const deployment = await client.expect<{ status?: { observedGeneration?: number } }>('GET', `${apps}/deployments/${PROBE}`, [200]);
  return deployment.body.status?.observedGeneration === undefined ? undefined : `a status (observedGeneration ${deployment.body.status.observedGeneration})`;
}

/** Probes `cluster` (the destination; a test may hand it any cluster) and deletes the probe's namespace afterwards. */
export async function probeControllers(cluster: KubeApi, waitMs = PROBE_WAIT_MS): Promise<CheckResult> {
  const fix = `run the destination's kube-controller-manager with ${DESTINATION_CONTROLLERS_FLAG}`;
  return withScratchNamespace(cluster, 'controllers', async (scratch) => {
    const namespace = await scratch.use();
    await cluster.expect('POST', `/apis/apps/v1/namespaces/${namespace}/deployments`, [201], probeDeployment);
    const started = Date.now();
    for (;;) {
      const evidence = await controllerEvidence(cluster, namespace);
      const waited = ((Date.now() - started) / 1000).toFixed(1);
      if (evidence) {
        return {
          check: 'controllers-off',
          ok: false,
          detail: `a probe Deployment got ${evidence} within ${waited} s: the destination's deployment controller runs and would act on mirrored workloads`,
          fix,
        };
      }
      if (Date.now() - started >= waitMs) {
        return {
          check: 'controllers-off',
          ok: true,
          detail: `a probe Deployment got no ReplicaSet and no status in ${waited} s: the destination's deployment controller is off`,
        };
      }
      await sleep(POLL_MS);
    }
  });
}
