/** For unit tests of the synchronizer's mirrors: counters that record nothing, the ConfigMap type's API, an API server in memory. */
import { PassThrough } from 'node:stream';
import type { WatchOptions } from '../../lib/kube/rest-client.js';
import { followWatch, type WatchEvent, type WatchHandle } from '../../lib/kube/watch-stream.js';
import type { KubeObject } from '../../lib/kube/types.js';
import type { ClusterSide } from '../../lib/routing/types.js';
import type { MirrorCounters, MirrorSide, ShardApi } from '../../synchronizer/shard-mirror.js';

export const quietCounters: MirrorCounters = {
  written: () => undefined,
  failed: () => undefined,
  ownerReferenceDropped: () => undefined,
  conflict: () => undefined,
  lag: () => undefined,
};

export const CONFIGMAPS_API: ShardApi = { prefix: '/api/v1', resource: 'configmaps', namespaced: true };

/** An API server in memory: core ConfigMaps, Secrets and Pods, discovery, list, get, create, update, delete. */
export class FakeCluster {
  readonly objects = new Map<string, KubeObject>();
  readonly calls: string[] = [];
  readonly deleteBodies: unknown[] = [];
  /** Watch streams opened on this side (JSON lines written by the test). */
  readonly watches: PassThrough[] = [];
  /** Names this cluster refuses to create (a quota, a policy). */
  readonly refusedNames = new Set<string>();
  private nextUid = 1;
  constructor(readonly side: ClusterSide) {}

  add(o: KubeObject, resource = 'configmaps'): KubeObject {
    const stored = { ...o, metadata: { ...o.metadata, uid: o.metadata.uid ?? `${this.side}-${this.nextUid++}`, resourceVersion: String(this.nextUid++) } };
    this.objects.set(`/api/v1/namespaces/${o.metadata.namespace}/${resource}/${o.metadata.name}`, stored);
    return stored;
  }

  get(name: string, resource = 'configmaps'): KubeObject | undefined {
    return this.objects.get(`/api/v1/namespaces/apps/${resource}/${name}`);
  }

  /** While set, calls it matches fail as a stalled API server's do: no answer within the client's deadline. */
  stalled: ((method: string, path: string) => boolean) | undefined;

  request = async <T>(method: string, fullPath: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const [path] = fullPath.split('?') as [string];
    this.calls.push(`${method} ${path}`);
    if (this.stalled?.(method, path)) throw new Error(`${method} ${path}: timeout after 10000 ms`);
    const reply = (status: number, b: unknown = {}) => ({ status, body: b as T });
    if (path === '/api/v1') {
      const resources = [
        { name: 'configmaps', kind: 'ConfigMap', namespaced: true },
        { name: 'pods', kind: 'Pod', namespaced: true },
        { name: 'pods/status', kind: 'Pod', namespaced: true },
      ];
      return reply(200, { resources });
    }
    if (/^\/api\/v1\/namespaces\/[^/]+$/.test(path)) return reply(200, { metadata: { name: path.split('/').pop() } });
    // All namespaces, or one (`/api/v1/namespaces/<ns>/<resource>`).
    const list = /^\/api\/v1\/(?:namespaces\/([^/]+)\/)?(\w+)$/.exec(path);
    if (method === 'GET' && list) {
      // In key order, as etcd lists.
      const entries = [...this.objects.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
      const items = entries.filter(([k]) => k.split('/')[5] === list[2] && (!list[1] || k.split('/')[4] === list[1])).map(([, v]) => v);
      return reply(200, { items, metadata: { resourceVersion: '1000' } });
    }
    if (method === 'POST') {
      const o = body as KubeObject;
      if (o.metadata.uid || o.metadata.resourceVersion) return reply(400);
      if (this.refusedNames.has(o.metadata.name)) return reply(403, { message: 'exceeded quota' });
      return reply(201, this.add({ ...o, metadata: { ...o.metadata, uid: undefined } }, path.split('/').pop()));
    }
    const found = this.objects.get(path);
    if (!found) return reply(404);
    if (method === 'GET') return reply(200, found);
    if (method === 'DELETE') {
      this.deleteBodies.push(body);
      return reply(200, this.objects.delete(path));
    }
    const o = body as KubeObject;
    const updated = { ...o, metadata: { ...o.metadata, uid: found.metadata.uid, resourceVersion: String(this.nextUid++) } };
    this.objects.set(path, updated);
    return reply(200, updated);
  };

  expect = async <T>(method: string, path: string, ok: number[], body?: unknown) => {
    const res = await this.request<T>(method, path, body);
    if (!ok.includes(res.status)) throw new Error(`${method} ${path}: HTTP ${res.status}`);
    return res;
  };

  /** KubeRestClient.watch over a stream the test writes: the real reader (lib/kube/watch-stream.ts) parses it. */
  watch = async <T>(_path: string, onEvent: (event: WatchEvent<T>) => void, options: WatchOptions = {}): Promise<WatchHandle> => {
    const stream = new PassThrough();
    this.watches.push(stream);
    return followWatch(stream, onEvent, { silentMs: options.silentMs });
  };

  asSide(): MirrorSide {
    return { side: this.side, rest: this as unknown as MirrorSide['rest'] };
  }
}
