/**
 * `bridgectl demo` (`npm run demo`): the main job on a fresh machine. Start the two-cluster lab,
 * wire the components to it (`lab install`), prove the request path end to end with real clients,
 * then migrate: a BridgeRollout from 0 to 100% and back while workloads run (`--fault`: the
 * destination fails mid-way and the controller rolls back on its own).
 */
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { labUp } from '../lab/lab.js';
import { kubeconfigPath } from '../lab/lab-files.js';
import { LAB_APPS_NAMESPACE } from '../lab/install-context.js';
import { labDir } from '../lib/process/paths.js';
import { BridgeError, errorMessage } from '../lib/errors.js';
import { parseFlags } from '../lib/process/flags.js';
import { waitUntil } from '../lib/wait-until.js';
import { say, type Command } from './command.js';
import { installAll } from './lab-commands.js';
import { LAB_NODE_NAME } from '../lab/kubelet-streaming.js';
import { TEST_IMAGE } from '../lab/node/images.js';
import { REAL_NODE_NAME } from '../lab/node/kubelet-config.js';

const execFileAsync = promisify(execFile);

async function kubectl(kubeconfig: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync('kubectl', ['--kubeconfig', kubeconfig, ...args]);
    return stdout.trim();
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new BridgeError('BRIDGE_ERR_KUBE_API', `kubectl ${args.join(' ')}: ${stderr || errorMessage(err)}`);
  }
}

const waitFor = (what: string, probe: () => Promise<boolean>) =>
  waitUntil(what, probe, { failure: (message) => new BridgeError('BRIDGE_ERR_LAB_START_FAILED', message) });

type Check = { name: string; run: () => Promise<string> };

async function runChecks(checks: Check[]): Promise<boolean> {
  let ok = true;
  for (const check of checks) {
    const started = Date.now();
    try {
      const detail = await check.run();
      say(`  ok    ${check.name} (${Date.now() - started} ms)${detail ? `: ${detail}` : ''}`);
    } catch (err) {
      ok = false;
      say(`  FAIL  ${check.name}: ${errorMessage(err)}`);
    }
  }
  return ok;
}

/** `kubectl run` that pins the pod to a node: on a real-node lab the scheduler may pick either node. */
const onNode = (node: string) => `--overrides=${JSON.stringify({ apiVersion: 'v1', spec: { nodeSelector: { 'kubernetes.io/hostname': node } } })}`;

/** The pod check: kwok's fake node, or (--real-nodes) a container on the real node calling its API server in-cluster. */
async function podCheck(kc: string, ns: string, realNodes: boolean): Promise<string> {
  const image = realNodes ? [`--image=${TEST_IMAGE}`, '--image-pull-policy=Never', onNode(REAL_NODE_NAME)] : ['--image=registry.invalid/web:1'];
  const command = realNodes ? ['--', '/bin/sh', '-c', 'incluster-check; sleep 3600'] : [];
  await kubectl(kc, ['-n', ns, 'run', 'web', ...image, '--restart=Never', ...command]);
  await waitFor('pod Running', async () => (await kubectl(kc, ['-n', ns, 'get', 'pod', 'web', '-o', 'jsonpath={.status.phase}'])) === 'Running');
  const node = await kubectl(kc, ['-n', ns, 'get', 'pod', 'web', '-o', 'jsonpath={.spec.nodeName}']);
  let said = '';
  if (realNodes) {
    await waitFor('the in-cluster call', async () => (said = await kubectl(kc, ['-n', ns, 'logs', 'web'])).includes('api ok'));
  }
  await kubectl(kc, ['delete', 'namespace', ns, '--wait=false']);
  return `on ${node}${realNodes ? `: ${said.split('\n').find((l) => l.startsWith('api ok'))}` : ''}`;
}

function clusterChecks(cluster: 'source' | 'destination', realNodes: boolean): Check[] {
  const kc = kubeconfigPath(cluster);
  const ns = `demo-${randomBytes(3).toString('hex')}`;
  return [
    { name: `${cluster}: /readyz`, run: () => kubectl(kc, ['get', '--raw', '/readyz']) },
    {
      name: `${cluster}: namespace, ConfigMap, default ServiceAccount and kube-root-ca.crt`,
      run: async () => {
        await kubectl(kc, ['create', 'namespace', ns]);
        await kubectl(kc, ['-n', ns, 'create', 'configmap', 'hello', '--from-literal=greeting=hi']);
        await waitFor('the default ServiceAccount', async () => (await kubectl(kc, ['-n', ns, 'get', 'sa', 'default', '-o', 'name'])) !== '');
        await waitFor('kube-root-ca.crt', async () => (await kubectl(kc, ['-n', ns, 'get', 'cm', 'kube-root-ca.crt', '-o', 'name'])) !== '');
        return ns;
      },
    },
    {
      name: `${cluster}: a pod is scheduled and reaches Running (${realNodes ? 'real node: kubelet, containerd, runc; it calls the API in-cluster' : 'kwok node'})`,
      run: () => podCheck(kc, ns, realNodes),
    },
  ];
}

function workloadChecks(realNodes: boolean): Check[] {
  const workload = join(labDir(), 'workload.kubeconfig');
  const admin = kubeconfigPath('source');
  return [
    {
      name: 'webhook: a pod created in lab-apps gets the native sidecar and the rewritten API env, and runs',
      run: async () => {
        const pod = `demo-${randomBytes(3).toString('hex')}`;
        // The lab's components are local processes, which no real node's pod can reach: this pod stays on kwok's node.
        const pin = realNodes ? [onNode(LAB_NODE_NAME)] : [];
        await kubectl(admin, ['-n', LAB_APPS_NAMESPACE, 'run', pod, '--image=registry.invalid/app:1', '--restart=Never', ...pin]);
        const field = (jsonpath: string) => kubectl(admin, ['-n', LAB_APPS_NAMESPACE, 'get', 'pod', pod, '-o', `jsonpath=${jsonpath}`]);
        const sidecar = await field('{.spec.initContainers[0].name}/{.spec.initContainers[0].restartPolicy}');
        const host = await field('{.spec.containers[0].env[?(@.name=="KUBERNETES_SERVICE_HOST")].value}');
        if (sidecar !== 'cluster-bridge-proxy/Always' || host !== '127.0.0.1')
          throw new Error(`not injected: init container ${sidecar}, KUBERNETES_SERVICE_HOST=${host}`);
        await waitFor(
          'the injected pod Running',
          async () => (await kubectl(admin, ['-n', LAB_APPS_NAMESPACE, 'get', 'pod', pod, '-o', 'jsonpath={.status.phase}'])) === 'Running',
        );
        await kubectl(admin, ['-n', LAB_APPS_NAMESPACE, 'delete', 'pod', pod, '--wait=false']);
        return `${sidecar}, KUBERNETES_SERVICE_HOST=${host}`;
      },
    },
    {
      name: 'workload (as an injected pod in lab-apps, through the sidecar): whoami, create, read back, delete',
      run: async () => {
        const whoami = await kubectl(workload, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
        const name = `demo-${randomBytes(3).toString('hex')}`;
        await kubectl(workload, ['-n', LAB_APPS_NAMESPACE, 'create', 'configmap', name, '--from-literal=via=sidecar']);
        const via = await kubectl(workload, ['-n', LAB_APPS_NAMESPACE, 'get', 'configmap', name, '-o', 'jsonpath={.data.via}']);
        await kubectl(workload, ['-n', LAB_APPS_NAMESPACE, 'delete', 'configmap', name]);
        if (via !== 'sidecar') throw new Error(`read back data.via=${via}`);
        return `as ${whoami}`;
      },
    },
  ];
}

export const demoCommand: Command = {
  summary:
    'start (or reuse) the two-cluster lab, (re)install the bridge, check the request path, and migrate in stages while workloads run; ' +
    '--fault makes the destination fail mid-way (the controller rolls back); --real-nodes adds a real kubelet node per cluster (lab up --real-node) ' +
    'and runs the pod checks there; --replace replaces a different running lab',
  async run(args) {
    const started = Date.now();
    const flags = parseFlags('demo', args, {
      replace: { type: 'boolean', default: false },
      fault: { type: 'boolean', default: false },
      'real-nodes': { type: 'boolean', default: false },
    });
    const realNodes = flags['real-nodes'];
    say(
      `== 1. lab up: two real control planes (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)${realNodes ? ', each with a real node' : ''}`,
    );
    const up = await labUp({ progress: say, replace: flags.replace, realNode: realNodes });
    say(up.alreadyRunning ? '   (already running)' : `   ready in ${up.startSeconds.toFixed(1)} s`);
    say('== 2. lab install: webhook and synchronizer for source, aggregator for destination, a sidecar standing in for an injected pod');
    // The demo owns its components: each run starts them fresh (and says so when it replaces some).
    const daemons = await installAll(say, { replace: true });
    say('== 3. checks');
    const checks = [...clusterChecks('source', realNodes), ...clusterChecks('destination', realNodes), ...workloadChecks(realNodes)];
    let ok = await runChecks(checks);
    if (ok) {
      say(
        flags.fault
          ? '== 4. migration with a fault: the destination fails at 25%; the rollout controller must roll back on its own'
          : '== 4. migration: workloads keep calling the API while a BridgeRollout moves 24 application namespaces in stages, then a rollback',
      );
      // Imported here: its client-node workloads would otherwise weigh on every bridgectl process (the aggregator's too).
      const { runMigration } = await import('./migration-demo.js');
      ok = await runMigration(daemons, { fault: flags.fault });
    }
    const took = `in ${((Date.now() - started) / 1000).toFixed(0)} s${realNodes ? ' on real nodes' : ''}`;
    say(ok ? `== demo passed ${took}; the lab keeps running (stop it with \`bridgectl lab down\`)` : `== demo FAILED ${took}`);
    if (!ok) process.exitCode = 1;
  },
};
