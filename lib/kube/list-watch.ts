/**
 * Keeps a view of a collection current, as an informer does: list (in pages, lib/kube/list-pages.ts), then
 * watch from the list's resourceVersion; when the watch ends or fails (410 Gone included), or says
 * nothing for longer than the server was asked to keep it open (a connection dead without a reset),
 * list again after a pause. Each list replaces the view, so nothing missed while disconnected stays wrong.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../errors.js';
import type { KubeRestClient } from './rest-client.js';
import { listAllPages } from './list-pages.js';
import { silenceWatchdog } from './watch-stream.js';
import type { Logger } from '../process/logger.js';

export interface ListWatchHandlers<T> {
  onList(items: T[]): void;
  onEvent(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: T): void;
}

/** The server ends each watch after this long (`timeoutSeconds`), as the shard mirrors ask. */
export const WATCH_TIMEOUT_SECONDS = 300;
/** A watch silent this long past the server's timeout is dead: no event, no bookmark, no end. */
const SILENCE_GRACE_MS = 30_000;

/** How long a watch asked to last `timeoutSeconds` may stay silent before it is taken for dead. */
export const silenceLimitMs = (timeoutSeconds: number): number => timeoutSeconds * 1000 + SILENCE_GRACE_MS;

/** `path` is the collection with its query (`/api/v1/secrets?fieldSelector=...`), without watch or paging parameters. */
export function listAndWatch<T>(
  client: KubeRestClient,
  path: string,
  handlers: ListWatchHandlers<T>,
  options: {
    log: Logger;
    listHeaders?: Record<string, string>;
    watchHeaders?: Record<string, string>;
    retryMs?: number;
    /** Page size of each list (default lib/kube/list-pages.ts). */
    pageSize?: number;
    watchTimeoutSeconds?: number;
    /** Default: silenceLimitMs(watchTimeoutSeconds). */
    silentMs?: number;
  },
): { stop(): void } {
  let stopped = false;
  let stopWatch: (() => void) | undefined;
  const separator = path.includes('?') ? '&' : '?';
  const timeoutSeconds = options.watchTimeoutSeconds ?? WATCH_TIMEOUT_SECONDS;
  void (async () => {
    while (!stopped) {
      try {
        const list = await listAllPages<T>(client, path, { headers: options.listHeaders, limit: options.pageSize });
        handlers.onList(list.items);
        const query = `watch=true&allowWatchBookmarks=true&timeoutSeconds=${timeoutSeconds}&resourceVersion=${encodeURIComponent(list.resourceVersion)}`;
        let onSilent!: (err: Error) => void;
        const wentSilent = new Promise<Error>((resolve) => (onSilent = resolve));
        const silentMs = options.silentMs ?? silenceLimitMs(timeoutSeconds);
        const watchdog = silenceWatchdog(silentMs, () => onSilent(new Error(`watch silent for ${silentMs} ms`)));
        const watch = await client.watch<T>(
          `${path}${separator}${query}`,
          (event) => {
            watchdog.touch();
            if (event.type !== 'BOOKMARK') handlers.onEvent(event.type, event.object);
          },
          { headers: options.watchHeaders },
        );
        stopWatch = watch.stop;
        if (stopped) watch.stop();
        // An ERROR event (410 Gone and friends) ends the watch with its code: list again.
        const err = await Promise.race([watch.ended, wentSilent]);
        watchdog.clear();
        watch.stop();
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
