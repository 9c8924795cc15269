/**
 * The routing table persisted in the destination (lib/routing/types.ts RoutingTableStore): ConfigMap
 * ROUTING_TABLE_CONFIGMAP, key `table.json`, replaced only with a resourceVersion precondition. Every
 * replica polls it, so a table written by one replica reaches the others within POLL_MS; the replica
 * that writes applies its own change at once.
 */
import { BridgeError, errorMessage } from '../errors.js';
import type { KubeRestClient } from '../kube/rest-client.js';
import type { Logger } from '../process/logger.js';
import { ROUTING_TABLE_CONFIGMAP, SYSTEM_NAMESPACE } from '../names.js';
import { emptyRoutingTable, validateRoutingTable } from './routing-table.js';
import type { RoutingTable, RoutingTableStore } from './types.js';

const POLL_MS = 500;
const PATH = `/api/v1/namespaces/${SYSTEM_NAMESPACE}/configmaps/${ROUTING_TABLE_CONFIGMAP}`;

interface ConfigMap {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  data?: Record<string, string>;
}

export class ConfigMapRoutingStore implements RoutingTableStore {
  constructor(
    private readonly destination: KubeRestClient,
    private readonly log: Logger,
  ) {}

  /** Creates the namespace and an empty table when missing (first start), then reads it. */
  async load(): Promise<{ table: RoutingTable; version: string }> {
    const got = await this.destination.request<ConfigMap>('GET', PATH);
    if (got.status === 200) return this.decode(got.body);
    if (got.status !== 404)
      throw new BridgeError('BRIDGE_ERR_KUBE_API', `reading the routing table ${SYSTEM_NAMESPACE}/${ROUTING_TABLE_CONFIGMAP}: HTTP ${got.status}`);
    // An installation creates the namespace (manifests/destination) and the aggregator may not create namespaces; the lab and tests need not.
    if ((await this.destination.request('GET', `/api/v1/namespaces/${SYSTEM_NAMESPACE}`)).status === 404)
      await this.destination.expect('POST', '/api/v1/namespaces', [201, 409], { apiVersion: 'v1', kind: 'Namespace', metadata: { name: SYSTEM_NAMESPACE } });
    const created = await this.destination.request<ConfigMap>('POST', `/api/v1/namespaces/${SYSTEM_NAMESPACE}/configmaps`, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: ROUTING_TABLE_CONFIGMAP },
      data: { 'table.json': JSON.stringify(emptyRoutingTable()) },
    });
    if (created.status === 201) return this.decode(created.body);
    if (created.status === 409) return this.load(); // another replica created it first
    throw new BridgeError('BRIDGE_ERR_KUBE_API', `creating the routing table: HTTP ${created.status}`);
  }

  private decode(cm: ConfigMap): { table: RoutingTable; version: string } {
    const text = cm.data?.['table.json'];
    if (!text)
      throw new BridgeError('BRIDGE_ERR_ROUTING', `the routing table ConfigMap has no table.json`, {
        fix: `delete ${SYSTEM_NAMESPACE}/${ROUTING_TABLE_CONFIGMAP} to start from an empty table`,
      });
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new BridgeError('BRIDGE_ERR_ROUTING', `the routing table is not JSON: ${errorMessage(err)}`);
    }
    return { table: validateRoutingTable(parsed), version: cm.metadata.resourceVersion ?? '' };
  }

  async replace(table: RoutingTable, version: string): Promise<{ version: string }> {
    validateRoutingTable(table);
    const body: ConfigMap = {
      metadata: { name: ROUTING_TABLE_CONFIGMAP, namespace: SYSTEM_NAMESPACE, resourceVersion: version },
      data: { 'table.json': JSON.stringify(table) },
    };
    const result = await this.destination.expect<ConfigMap>('PUT', PATH, [200], { apiVersion: 'v1', kind: 'ConfigMap', ...body });
    return { version: result.body.metadata.resourceVersion ?? '' };
  }

  watch(onChange: (table: RoutingTable) => void): () => void {
    return this.watchVersions((table) => onChange(table));
  }

  /** Like watch, with the store version of each table (for compare-and-swap writes after it). */
  watchVersions(onChange: (table: RoutingTable, version: string) => void): () => void {
    let lastVersion = '';
    let stopped = false;
    const tick = async () => {
      try {
        const { table, version } = await this.load();
        if (version !== lastVersion) {
          lastVersion = version;
          onChange(table, version);
        }
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 'cannot read the routing table; keeping the last one');
      }
      if (!stopped) timer = setTimeout(tick, POLL_MS);
    };
    let timer = setTimeout(tick, POLL_MS);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }
}
