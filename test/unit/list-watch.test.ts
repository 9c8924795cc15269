import { describe, expect, it } from '@jest/globals';
import type { KubeRestClient } from '../../lib/kube/rest-client.js';
import { listAllPages } from '../../lib/kube/list-pages.js';
import { listAndWatch } from '../../lib/kube/list-watch.js';
import { waitUntil } from '../../lib/wait-until.js';
import { StatusMirror } from '../../synchronizer/status-mirror.js';
import { quietCounters } from '../helpers/mirror-fixtures.js';
import { silentLog } from '../helpers/sidecar-fixtures.js';

type Item = { metadata: { name: string } };
const item = (name: string): Item => ({ metadata: { name } });

/** A collection of `items` served in pages of the `limit` asked, and watches that never say anything (a dead connection) until stopped. */
class PagedCollection {
  readonly lists: string[] = [];
  readonly watches: string[] = [];
  stoppedWatches = 0;
  constructor(private readonly items: Item[]) {}

  request = async <T>(method: string, path: string): Promise<{ status: number; body: T }> => {
    this.lists.push(`${method} ${path}`);
    const query = new URL(`https://x${path}`).searchParams;
    const limit = Number(query.get('limit') ?? this.items.length);
    const start = Number(query.get('continue') ?? 0);
    const next = start + limit < this.items.length ? String(start + limit) : undefined;
    const body = { items: this.items.slice(start, start + limit), metadata: { resourceVersion: '42', ...(next ? { continue: next } : {}) } };
    return { status: 200, body: body as T };
  };

  watch = async (path: string) => {
    this.watches.push(path);
    let end: (err?: Error) => void = () => undefined;
    const ended = new Promise<Error | undefined>((resolve) => (end = resolve));
    return {
      stop: () => {
        this.stoppedWatches++;
        end();
      },
      ended,
    };
  };

  asClient(): KubeRestClient {
    return this as unknown as KubeRestClient;
  }
}

describe('listAllPages', () => {
  it('follows continue tokens with the limit, keeps the query and the first page resourceVersion', async () => {
    const collection = new PagedCollection(['a', 'b', 'c', 'd', 'e'].map(item));
    const list = await listAllPages<Item>(collection.asClient(), '/api/v1/configmaps?labelSelector=x%3Dy', { limit: 2 });
    expect(list).toEqual({ items: ['a', 'b', 'c', 'd', 'e'].map(item), resourceVersion: '42' });
    expect(collection.lists).toEqual([
      'GET /api/v1/configmaps?labelSelector=x%3Dy&limit=2',
      'GET /api/v1/configmaps?labelSelector=x%3Dy&limit=2&continue=2',
      'GET /api/v1/configmaps?labelSelector=x%3Dy&limit=2&continue=4',
    ]);
  });
});

describe('listAndWatch', () => {
  it('lists in pages, asks the server to end the watch, and lists again when the watch stays silent past that', async () => {
    const collection = new PagedCollection(['a', 'b', 'c'].map(item));
    const lists: string[][] = [];
    const watch = listAndWatch<Item>(
      collection.asClient(),
      '/api/v1/configmaps',
      { onList: (items) => lists.push(items.map((i) => i.metadata.name)), onEvent: () => undefined },
      { log: silentLog, pageSize: 2, watchTimeoutSeconds: 7, silentMs: 50, retryMs: 10 },
    );
    try {
      await waitUntil('a second list after the silent watch', () => lists.length >= 2, { timeoutMs: 5000, intervalMs: 10 });
      expect(lists[0]).toEqual(['a', 'b', 'c']);
      expect(collection.lists.slice(0, 2)).toEqual(['GET /api/v1/configmaps?limit=2', 'GET /api/v1/configmaps?limit=2&continue=2']);
      expect(collection.watches[0]).toBe('/api/v1/configmaps?watch=true&allowWatchBookmarks=true&timeoutSeconds=7&resourceVersion=42');
      expect(collection.stoppedWatches).toBeGreaterThanOrEqual(1);
    } finally {
      watch.stop();
    }
  });

  it("is what a StatusMirror follows the source's objects with: paged lists, relisted after a silent watch", async () => {
    const collection = new PagedCollection(Array.from({ length: 1200 }, (_, i) => item(`d${i}`)));
    const destination = { request: async () => ({ status: 404, body: {} }) } as unknown as KubeRestClient;
    const api = { prefix: '/apis/apps/v1', resource: 'deployments', namespaced: true };
    const mirror = new StatusMirror('deployments.apps', api, collection.asClient(), destination, quietCounters, silentLog, { silentMs: 50 });
    mirror.start();
    try {
      await waitUntil('a relist', () => collection.lists.filter((l) => !l.includes('continue')).length >= 2, { timeoutMs: 5000, intervalMs: 10 });
      expect(collection.lists.slice(0, 3)).toEqual([
        'GET /apis/apps/v1/deployments?limit=500',
        'GET /apis/apps/v1/deployments?limit=500&continue=500',
        'GET /apis/apps/v1/deployments?limit=500&continue=1000',
      ]);
    } finally {
      mirror.stop();
    }
  });
});
