/**
 * The namespaces a plan's stages select (docs/adr/0026), resolved against the source, where the
 * namespaces are: names as given, a label selector evaluated by the source API server itself (no
 * second selector parser), or every application namespace. System namespaces are never selected.
 */
import type { KubeRestClient } from '../../lib/kube/rest-client.js';
import { namespaceShardProblem } from '../../lib/routing/namespace-shards.js';
import { namespaceShardKey } from '../../lib/routing/shard-hash.js';
import type { ShardKey } from '../../lib/routing/types.js';
import type { BridgeRollout, NamespaceSelection } from './rollout-types.js';

type Lister = Pick<KubeRestClient, 'expect'>;

/** The source's namespaces matching `selector` (every one when undefined), by name. */
async function listNamespaces(source: Lister, selector?: string): Promise<string[]> {
  const query = selector === undefined ? '' : `?labelSelector=${encodeURIComponent(selector)}`;
  const list = await source.expect<{ items: { metadata: { name: string } }[] }>('GET', `/api/v1/namespaces${query}`, [200]);
  return list.body.items.map((n) => n.metadata.name);
}

/** The application namespaces a selection names, sorted; system namespaces and malformed names are left out. */
export async function selectedNamespaces(source: Lister, selection: NamespaceSelection): Promise<string[]> {
  const names = selection.names ?? (selection.selector !== undefined ? await listNamespaces(source, selection.selector) : await listNamespaces(source));
  return [...new Set(names)].filter((name) => namespaceShardProblem(name) === undefined).sort();
}

/** Per stage, its namespace shards (empty for a stage without a selection); one list of the source per distinct selection. */
export async function resolveStageNamespaces(source: Lister, rollout: BridgeRollout): Promise<ShardKey[][]> {
  const resolved = new Map<string, ShardKey[]>();
  const out: ShardKey[][] = [];
  for (const stage of rollout.spec.stages) {
    if (!stage.namespaces) {
      out.push([]);
      continue;
    }
    const key = JSON.stringify(stage.namespaces);
    if (!resolved.has(key)) resolved.set(key, (await selectedNamespaces(source, stage.namespaces)).map(namespaceShardKey));
    out.push(resolved.get(key)!);
  }
  return out;
}

/** Whether any stage of the plan moves namespace shards. */
export function selectsNamespaces(rollout: BridgeRollout): boolean {
  return rollout.spec.stages.some((s) => s.namespaces !== undefined);
}

/**
 * The plan's shards: its type shards (spec.shards, else the defaults), without the carried types when
 * it moves namespaces (a carried type is never also a type shard), and every stage's namespace shards.
 */
export function planShards(
  rollout: BridgeRollout,
  defaultShards: readonly ShardKey[],
  carried: readonly ShardKey[],
  stageNamespaces: ShardKey[][],
): ShardKey[] {
  const types = rollout.spec.shards?.length ? rollout.spec.shards : defaultShards;
  const byNamespace = selectsNamespaces(rollout);
  const typeShards = byNamespace ? types.filter((t) => !carried.includes(t)) : [...types];
  return [...new Set([...typeShards, ...stageNamespaces.flat()])];
}
