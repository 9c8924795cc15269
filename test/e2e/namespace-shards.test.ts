// Namespace shards on the lab's two real clusters (issue 24, docs/adr/0026): `bridgectl aggregator move
// --namespace` moves one namespace's carried types to the destination as a unit. Then a ConfigMap
// written in it through the aggregator lands in the destination; the source's fence refuses a write to
// it straight on the source while another namespace's ConfigMaps stay writable there; moved back,
// nothing written meanwhile is lost. A lab of its own: the move fences the source.
import { stopPrivateLab } from '../helpers/private-lab.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyRolloutCrd } from '../../lab/install-bridge.js';
import { waitUntil } from '../../lib/wait-until.js';
import { namespaceShardKey } from '../../lib/routing/shard-hash.js';
import { shardState } from '../../lib/routing/routing-table.js';
import { startLabBridge, type LabBridge } from '../helpers/bridge-lab.js';
import { createNamespace, kubeconfigPath, kubectl, kubectlOk, run, waitForRoleBindingsOnDestination } from '../helpers/lab-clients.js';
import { serviceAccountToken, tokenKubeconfig } from '../helpers/sidecar-lab.js';

const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');
const bridgectl = (args: string[]) => run(process.execPath, [CLI, ...args], { env: process.env });

let bridge: LabBridge;
/** The namespace that moves, and one that stays at the source. */
let moving: string;
let staying: string;
/** A workload of `moving`, through the sidecar and the aggregator, as an injected pod reaches the API. */
let workload: string;

const rvOf = (cluster: string, namespace: string, name: string) =>
  kubectlOk(cluster, ['-n', namespace, 'get', 'configmap', name, '-o', 'jsonpath={.metadata.resourceVersion}']);
const dataOf = (cluster: string, namespace: string, name: string) =>
  kubectlOk(cluster, ['-n', namespace, 'get', 'configmap', name, '-o', 'jsonpath={.data.k}']);

async function move(to: 'destination' | 'source'): Promise<string> {
  const moved = await bridgectl([
    'aggregator',
    'move',
    '--namespace',
    moving,
    '--to',
    to,
    '--kubeconfig',
    kubeconfigPath('destination'),
    '--timeout-seconds',
    '90',
  ]);
  expect(moved.stderr + moved.stdout).toContain(`namespace/${moving} is served by the ${to}`);
  expect(moved.code).toBe(0);
  return moved.stdout;
}

beforeAll(async () => {
  moving = await createNamespace('source', 'ns-moving');
  staying = await createNamespace('source', 'ns-staying');
  const token = await serviceAccountToken(moving);
  bridge = await startLabBridge({ namespace: moving });
  workload = tokenKubeconfig(bridge.sidecar.dir, 'workload', bridge.sidecar.server, bridge.sidecar.caBundlePem, token, moving);
  await kubectlOk('source', ['-n', moving, 'create', 'configmap', 'before', '--from-literal=k=before']);
  await kubectlOk('source', ['-n', staying, 'create', 'configmap', 'before', '--from-literal=k=before']);
  await waitForRoleBindingsOnDestination(moving);
}, 240_000);

afterAll(async () => {
  await bridge?.close();
  await stopPrivateLab();
}, 120_000);

describe('namespace shards on the lab', () => {
  it('refuses to move a namespace the source does not have, holding nothing', async () => {
    const refused = await bridgectl([
      'aggregator',
      'move',
      '--namespace',
      'no-such-namespace',
      '--to',
      'destination',
      '--kubeconfig',
      kubeconfigPath('destination'),
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('BRIDGE_ERR_ROUTING: namespace no-such-namespace does not exist on the source');
    expect(bridge.aggregator.routing.table.shards[namespaceShardKey('no-such-namespace')]).toBeUndefined();
  });

  it('moves one namespace: its writes through the aggregator land in the destination, the fence refuses them on the source, other namespaces stay writable there', async () => {
    const output = await move('destination');
    const table = bridge.aggregator.routing.table;
    const state = shardState(table, namespaceShardKey(moving));
    expect(state.owner).toBe('destination');
    expect(output).toContain(`epoch 1, resourceVersion offset ${state.epochs[1]!.offset}`);
    expect(table.namespaceTypes).toContain('configmaps');
    expect(table.merged?.epochs).toHaveLength(1);
    // The type shards did not move: configmaps of other namespaces are the source's.
    expect(table.shards.configmaps).toBeUndefined();

    // Caught up before the move: the ConfigMap written on the source is in the destination.
    expect(await dataOf('destination', moving, 'before')).toBe('before');
    // A write through the aggregator lands in the destination, with the namespace shard's RV offset.
    await kubectlOk(workload, ['-n', moving, 'create', 'configmap', 'during', '--from-literal=k=during']);
    expect(await dataOf('destination', moving, 'during')).toBe('during');
    const presented = await kubectlOk(workload, ['-n', moving, 'get', 'configmap', 'during', '-o', 'jsonpath={.metadata.resourceVersion}']);
    expect(BigInt(presented)).toBe(BigInt(await rvOf('destination', moving, 'during')) + BigInt(state.epochs[1]!.offset));
    await kubectlOk(workload, ['-n', moving, 'patch', 'configmap', 'before', '--type=merge', '-p', '{"data":{"k":"changed-in-destination"}}']);
    expect(await dataOf('destination', moving, 'before')).toBe('changed-in-destination');

    // Straight on the source, the moved namespace's carried types are fenced...
    const fenced = await kubectl('source', ['-n', moving, 'create', 'configmap', 'direct', '--from-literal=k=v']);
    expect(fenced.code).not.toBe(0);
    expect(fenced.stderr).toContain('served by the destination cluster');
    const fencedSecret = await kubectl('source', ['-n', moving, 'create', 'secret', 'generic', 'direct', '--from-literal=k=v']);
    expect(fencedSecret.code).not.toBe(0);
    expect(fencedSecret.stderr).toContain('served by the destination cluster');
    // ...while another namespace's ConfigMaps stay writable there, and its writes through the aggregator go to the source.
    await kubectlOk('source', ['-n', staying, 'create', 'configmap', 'direct', '--from-literal=k=v']);
    await kubectlOk('source', ['-n', staying, 'patch', 'configmap', 'before', '--type=merge', '-p', '{"data":{"k":"changed-on-source"}}']);
    expect(await dataOf('source', staying, 'before')).toBe('changed-on-source');
    const mirroredBack = await waitUntil('the destination write mirrored to the source', async () =>
      (await kubectl('source', ['-n', moving, 'get', 'configmap', 'during', '-o', 'jsonpath={.data.k}'])).stdout === 'during' ? true : undefined,
    );
    expect(mirroredBack).toBe(true);
  });

  it('moves it back: nothing written meanwhile is lost, and the source takes its writes again', async () => {
    await kubectlOk(workload, ['-n', moving, 'create', 'configmap', 'last', '--from-literal=k=last']);
    await move('source');
    const state = shardState(bridge.aggregator.routing.table, namespaceShardKey(moving));
    expect(state.epochs.map((e) => e.backend)).toEqual(['source', 'destination', 'source']);
    expect(bridge.aggregator.routing.table.merged?.epochs).toHaveLength(2);
    for (const [name, value] of [
      ['before', 'changed-in-destination'],
      ['during', 'during'],
      ['last', 'last'],
    ] as const) {
      expect(await dataOf('source', moving, name)).toBe(value);
      expect(await kubectlOk(workload, ['-n', moving, 'get', 'configmap', name, '-o', 'jsonpath={.data.k}'])).toBe(value);
    }
    // Served by the source again, in the third epoch: presented = source RV + that epoch's offset.
    const presented = await kubectlOk(workload, ['-n', moving, 'get', 'configmap', 'last', '-o', 'jsonpath={.metadata.resourceVersion}']);
    expect(BigInt(presented)).toBe(BigInt(await rvOf('source', moving, 'last')) + BigInt(state.epochs[2]!.offset));
    await kubectlOk('source', ['-n', moving, 'create', 'configmap', 'direct-after', '--from-literal=k=v']);
    await kubectlOk(workload, ['-n', moving, 'create', 'configmap', 'after', '--from-literal=k=after']);
    expect(await dataOf('source', moving, 'after')).toBe('after');
  });

  it('a rollout plan moves the namespaces it names by F and rolls them back; the CRD refuses an ambiguous selection', async () => {
    const destination = kubeconfigPath('destination');
    await applyRolloutCrd(bridge.destination);
    const badPlan = join(mkdtempSync(join(tmpdir(), 'ns-plan-')), 'plan.yaml');
    writeFileSync(badPlan, JSON.stringify({ stages: [{ name: 'x', fraction: 1, namespaces: { names: [staying], all: true } }] }));
    const bad = await bridgectl(['rollout', 'plan', '--name', 'ns-bad', '--file', badPlan, '--dry-run', '--kubeconfig', destination]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('namespaces selects by exactly one of names, selector or all');

    const plan = await bridgectl([
      'rollout',
      'plan',
      '--name',
      'ns-plan',
      '--stages',
      '100',
      '--namespaces',
      staying,
      '--soak-seconds',
      '600',
      '--kubeconfig',
      destination,
    ]);
    expect(plan.stderr).toContain(`namespace positions (moved once F is above): ${staying} `);
    expect(plan.code).toBe(0);
    const key = namespaceShardKey(staying);
    await waitUntil(
      'the rollout to move the namespace',
      async () => (shardState(bridge.aggregator.routing.table, key).owner === 'destination' ? true : undefined),
      {
        timeoutMs: 90_000,
      },
    );
    // Its type shards are not the carried types: configmaps of other namespaces never moved.
    expect(bridge.aggregator.routing.table.shards.configmaps).toBeUndefined();
    expect(await dataOf('destination', staying, 'before')).toBe('changed-on-source');
    // The rollout's status copies the table on the controller's next tick (CI once read it mid-hand-off: `->destination`).
    const moved = new RegExp(`namespace/${staying}\\s+destination\\s+destination`);
    const status = await waitUntil(
      'bridgectl status to show the namespace moved',
      async () => {
        const answer = await bridgectl(['status', '--name', 'ns-plan', '--kubeconfig', destination]);
        return moved.test(answer.stdout) ? answer : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(status.stdout).toMatch(moved);
    // The rollout governs it: a hand move is refused, naming the rollout.
    const governed = await bridgectl(['aggregator', 'move', '--namespace', staying, '--to', 'source', '--kubeconfig', destination]);
    expect(governed.code).toBe(1);
    expect(governed.stderr).toContain('BRIDGE_ERR_ROLLOUT: BridgeRollout "ns-plan"');

    const rolledBack = await bridgectl(['rollback', '--name', 'ns-plan', '--kubeconfig', destination, '--timeout-seconds', '60']);
    expect(rolledBack.code).toBe(0);
    await waitUntil(
      'the rollback to bring the namespace back',
      async () => (shardState(bridge.aggregator.routing.table, key).owner === 'source' ? true : undefined),
      {
        timeoutMs: 90_000,
      },
    );
    await kubectlOk('source', ['-n', staying, 'create', 'configmap', 'after-rollback', '--from-literal=k=v']);
  });
});
