/**
 * Workload status flows from the source to the destination whichever side owns the spec (DESIGN.md
 * section 5; lib/mirror/workload-status.ts). While the source owns a workload shard, its ShardMirror writes
 * the status right after the copy (copySourceStatus). While the destination owns it, the shard mirror
 * goes destination -> source and never writes status (an update of the main resource ignores it); a
 * StatusMirror then follows the source's objects of the shard and writes each one's status to the
 * destination's object through `/status`, and nothing else. An object not on the destination yet is
 * skipped: its next status change, or the next relist, brings it. It lists and watches as the shard
 * mirrors do (lib/kube/list-watch.ts): in pages, relisting when a watch ends, fails or stays silent.
 * For a type carried in namespace shards it is scoped: it copies only the namespaces the destination
 * owns (the source's shard mirror copies status for the rest), and reads a namespace again when it
 * turns to the destination (a status written while its hand-off held the old mirror would wait for the
 * next change otherwise).
 */
import { errorMessage } from '../lib/errors.js';
import { kubeApiError, type KubeRestClient } from '../lib/kube/rest-client.js';
import { listAndWatch } from '../lib/kube/list-watch.js';
import { listAllPages } from '../lib/kube/list-pages.js';
import type { Logger } from '../lib/process/logger.js';
import type { KubeObject } from '../lib/kube/types.js';
import type { ShardKey } from '../lib/routing/types.js';
import { statusUpdate } from '../lib/mirror/workload-status.js';
import { asSynchronizer, objectPath, type MirrorCounters, type ShardApi } from './mirror-side.js';

/**
 * Writes the source object's status to the destination's object `destinationObj` when they differ;
 * returns the destination's object as stored after the write (unchanged when none was needed).
 */
export async function copySourceStatus(
  destination: Pick<KubeRestClient, 'request'>,
  api: ShardApi,
  sourceObj: KubeObject,
  destinationObj: KubeObject,
): Promise<KubeObject> {
  const body = statusUpdate(sourceObj, destinationObj);
  if (!body) return destinationObj;
  const path = `${objectPath(api, destinationObj.metadata.namespace, destinationObj.metadata.name)}/status`;
  const written = await destination.request<KubeObject>('PUT', asSynchronizer(path), body);
  if (written.status !== 200) throw kubeApiError('PUT', path, written);
  return written.body;
}

export class StatusMirror {
  private queue: Promise<unknown> = Promise.resolve();
  private watch: { stop(): void } | undefined;

  constructor(
    readonly shard: ShardKey,
    private readonly api: ShardApi,
    private readonly source: KubeRestClient,
    private readonly destination: KubeRestClient,
    private readonly counters: MirrorCounters,
    private readonly log: Logger,
    /** Watch tuning (tests); the defaults are lib/kube/list-watch.ts's. */
    private readonly watchOptions: { silentMs?: number } = {},
    /** The namespaces whose status it copies ('' for cluster-scoped objects); absent: all (a type shard). */
    readonly covers?: (namespace: string) => boolean,
  ) {}

  start(): void {
    this.watch = listAndWatch<KubeObject>(
      this.source,
      objectPath(this.api, undefined),
      {
        onList: (items) => items.forEach((item) => this.enqueue(item)),
        onEvent: (type, obj) => (type === 'DELETED' ? undefined : this.enqueue(obj)),
      },
      { log: this.log, ...this.watchOptions },
    );
  }

  stop(): void {
    this.watch?.stop();
  }

  /** Copies the status of every source object of `namespace` (it just turned to the destination). */
  async copyNamespace(namespace: string): Promise<void> {
    try {
      const { items } = await listAllPages<KubeObject>(this.source, objectPath(this.api, namespace));
      items.forEach((item) => this.enqueue(item));
      await this.queue;
    } catch (err) {
      this.counters.failed(this.shard, 'source->destination', 'status');
      this.log.warn({ shard: this.shard, namespace, err: errorMessage(err) }, "cannot read the source's objects of a namespace the destination took");
    }
  }

  /** Status writes of the shard one after another, in the order the source delivered them. */
  private enqueue(sourceObj: KubeObject): void {
    if (this.covers && !this.covers(sourceObj.metadata.namespace ?? '')) return;
    this.queue = this.queue.then(() => this.copy(sourceObj));
  }

  private async copy(sourceObj: KubeObject): Promise<void> {
    const direction = 'source->destination';
    const path = objectPath(this.api, sourceObj.metadata.namespace, sourceObj.metadata.name);
    try {
      const got = await this.destination.request<KubeObject>('GET', path);
      if (got.status === 404) return;
      if (got.status !== 200) throw kubeApiError('GET', path, got);
      if ((await copySourceStatus(this.destination, this.api, sourceObj, got.body)) !== got.body) this.counters.written(this.shard, direction, 'update');
    } catch (err) {
      this.counters.failed(this.shard, direction, 'status');
      this.log.warn({ shard: this.shard, object: path, err: errorMessage(err) }, "cannot copy the source's status to the destination");
    }
  }
}
