/**
 * One way to keep certificates current: a source says how to load its material and when two loads
 * are the same; one loop looks again on a timer (and early when a watched folder changes, as a Secret
 * volume does when the kubelet swaps its symlink) and hands over only material that loaded and
 * differs. A load that fails keeps the old material in use and is reported, never thrown.
 */
import { watch, type FSWatcher } from 'node:fs';

export interface CertSource<T> {
  /** The material as it is now; throws when it cannot be read or does not check out. */
  load(): T | Promise<T>;
  /** True when two loads hold the same material. */
  same(a: T, b: T): boolean;
  /** A folder whose changes should trigger an early look. */
  watchDir?: string;
}

export interface ReloadHooks<T> {
  onChange(next: T): void;
  onError(err: unknown): void;
}

export interface ReloadLoop {
  close(): void;
}

/** Changes inside one folder come in bursts (several files, a symlink swap): look once after it settles. */
const SETTLE_MS = 100;

export function reloadOnChange<T>(source: CertSource<T>, current: T, hooks: ReloadHooks<T>, pollMs: number): ReloadLoop {
  let last = current;
  let running = false;
  let again = false;
  let settle: NodeJS.Timeout | undefined;
  const check = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      const next = await source.load();
      if (!source.same(next, last)) {
        last = next;
        hooks.onChange(next);
      }
    } catch (err) {
      hooks.onError(err);
    } finally {
      running = false;
      if (again) {
        again = false;
        void check();
      }
    }
  };
  const poll = setInterval(() => void check(), pollMs);
  poll.unref();
  let watcher: FSWatcher | undefined;
  if (source.watchDir) {
    try {
      watcher = watch(source.watchDir, { persistent: false }, () => {
        clearTimeout(settle);
        settle = setTimeout(() => void check(), SETTLE_MS);
      });
      watcher.on('error', () => watcher?.close());
    } catch {
      watcher = undefined; // the poll still catches changes
    }
  }
  return {
    close() {
      clearInterval(poll);
      clearTimeout(settle);
      watcher?.close();
    },
  };
}
