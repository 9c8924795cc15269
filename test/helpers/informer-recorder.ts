/**
 * A client-node informer run as a controller runs one (restarted after a watch error), recording every
 * event and every list it made, and the checks a client relies on (DESIGN.md section 3): every RV is a
 * decimal below 2^63, an object's RVs never go backwards, a shard's list RVs never go backwards.
 */
import { expect } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';

/** client-go parses RVs as uint64, and KEP-5504 compares them: presented RVs stay below 2^63. */
export const RV_LIMIT = 2n ** 63n;

export interface SeenEvent {
  type: 'add' | 'update' | 'delete';
  name: string;
  rv: string;
}

export interface RecordedInformer<T extends k8s.KubernetesObject> {
  informer: k8s.Informer<T> & k8s.ObjectCache<T>;
  events: SeenEvent[];
  /** The RV of each list the informer made, in order: one per (re)list. */
  listRVs: string[];
  /** The names the informer holds now. */
  names(namespace: string): string[];
  stop(): Promise<void>;
}

export async function startRecordedInformer<T extends k8s.KubernetesObject>(
  kc: k8s.KubeConfig,
  path: string,
  list: () => Promise<k8s.KubernetesListObject<T>>,
): Promise<RecordedInformer<T>> {
  const events: SeenEvent[] = [];
  const listRVs: string[] = [];
  const informer = k8s.makeInformer<T>(kc, path, async () => {
    const listed = await list();
    listRVs.push(listed.metadata?.resourceVersion ?? '');
    return listed;
  });
  for (const type of ['add', 'update', 'delete'] as const) {
    informer.on(type, (obj: T) => events.push({ type, name: obj.metadata!.name!, rv: obj.metadata!.resourceVersion! }));
  }
  // client-node informers stop on a watch error; a controller restarts them, as here.
  let stopped = false;
  informer.on('error', () => setTimeout(() => !stopped && void informer.start(), 200));
  await informer.start();
  return {
    informer,
    events,
    listRVs,
    names: (namespace) => informer.list(namespace).map((o) => o.metadata!.name!),
    async stop() {
      stopped = true;
      await informer.stop();
    },
  };
}

const ascending = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);

/** Every RV is a decimal integer below 2^63. */
export function expectDecimalRVs(rvs: readonly string[]): void {
  for (const rv of rvs) {
    expect(rv).toMatch(/^\d+$/);
    expect(BigInt(rv)).toBeLessThan(RV_LIMIT);
  }
}

/** The RVs, in the order seen, never decrease. */
export function expectNonDecreasing(rvs: readonly string[]): void {
  const values = rvs.map(BigInt);
  expect(values).toEqual([...values].sort(ascending));
}

/** What the recorder saw obeys the RV rules: decimals below 2^63, per object and per shard (its lists) never decreasing. */
export function expectRVRules(recorded: Pick<RecordedInformer<k8s.KubernetesObject>, 'events' | 'listRVs'>): void {
  expectDecimalRVs([...recorded.events.map((e) => e.rv), ...recorded.listRVs]);
  expectNonDecreasing(recorded.listRVs);
  for (const name of new Set(recorded.events.map((e) => e.name))) {
    expectNonDecreasing(recorded.events.filter((e) => e.name === name).map((e) => e.rv));
  }
}
