/**
 * Keeps a view of a collection current, as an informer does: list, then watch from the list's
 * resourceVersion; when the watch ends or fails (410 Gone included), list again after a pause. Each
 * list replaces the view, so nothing missed while disconnected stays wrong.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from './errors.js';
import type { KubeRestClient } from './kube-rest-client.js';
import type { Logger } from './logger.js';

export interface ListWatchHandlers<T> {
  onList(items: T[]): void;
  onEvent(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: T): void;
}

interface List<T> {
  metadata?: { resourceVersion?: string };
  items?: T[];
}

/** `path` is the collection with its query (`/api/v1/secrets?fieldSelector=...`), without watch parameters. */
export function listAndWatch<T>(
  client: KubeRestClient,
  path: string,
  handlers: ListWatchHandlers<T>,
  options: { log: Logger; listHeaders?: Record<string, string>; watchHeaders?: Record<string, string>; retryMs?: number },
): { stop(): void } {
  let stopped = false;
  let stopWatch: (() => void) | undefined;
  const separator = path.includes('?') ? '&' : '?';
  void (async () => {
    while (!stopped) {
      try {
        const list = await client.request<List<T>>('GET', path, undefined, { headers: options.listHeaders });
        if (list.status !== 200) throw new Error(`list ${path}: HTTP ${list.status}`);
        handlers.onList(list.body.items ?? []);
        const rv = list.body.metadata?.resourceVersion ?? '';
        const watch = await client.watch<T>(
          `${path}${separator}watch=true&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(rv)}`,
          (event) => {
            if (event.type === 'ADDED' || event.type === 'MODIFIED' || event.type === 'DELETED') handlers.onEvent(event.type, event.object);
            else if (event.type === 'ERROR') watch.stop(); // 410 Gone and friends: list again
          },
          options.watchHeaders,
        );
        stopWatch = watch.stop;
        if (stopped) watch.stop();
        const err = await watch.ended;
        if (err && !stopped) options.log.warn({ path, err: errorMessage(err) }, 'watch ended; listing again');
      } catch (err) {
        if (!stopped) options.log.warn({ path, err: errorMessage(err) }, 'list failed; retrying');
      }
      if (!stopped) await sleep(options.retryMs ?? 1000);
    }
  })();
  return {
    stop() {
      stopped = true;
      stopWatch?.();
    },
  };
}
