import { describe, expect, it } from '@jest/globals';
import { mirroredContent, replicaCopy, sameMirroredContent } from '../../lib/mirror/copy.js';
import { type KubeObject } from '../../lib/kube/types.js';
import { hasSourceStatus, statusUpdate } from '../../lib/mirror/workload-status.js';
import { CRD_SHARD, CrdNotEstablished, crdsFirst, ensureEstablished } from '../../synchronizer/crd-readiness.js';

const SOURCE_UID = '75d967e3-9040-4f3e-895d-21c1302a8478';

/** A Job as the source's API server stores it after generating its selector from its UID. */
const sourceJob = (): KubeObject => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name: 'j1', namespace: 'apps', uid: SOURCE_UID, resourceVersion: '10', generation: 1 },
  spec: {
    manualSelector: false,
    selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': SOURCE_UID } },
    template: { metadata: { labels: { 'batch.kubernetes.io/controller-uid': SOURCE_UID, 'controller-uid': SOURCE_UID, 'job-name': 'j1' } } },
  },
  status: { active: 1 },
});

describe("a Job's copy keeps the source's generated selector", () => {
  it('is created with manualSelector: true and the selector and template labels unchanged', () => {
    const copy = replicaCopy(sourceJob());
    const spec = copy.spec as Record<string, unknown>;
    expect(spec.manualSelector).toBe(true);
    expect(spec.selector).toEqual((sourceJob().spec as Record<string, unknown>).selector);
    expect(spec.template).toEqual((sourceJob().spec as Record<string, unknown>).template);
    expect(copy.status).toBeUndefined();
  });

  it("an update keeps the replica's own manualSelector (false on the Job's own cluster)", () => {
    const replica = sourceJob();
    const copy = replicaCopy({ ...sourceJob(), spec: { ...(sourceJob().spec as object), manualSelector: true } }, '11', [], replica);
    expect((copy.spec as Record<string, unknown>).manualSelector).toBe(false);
  });

  it('compares equal to its copy (no write on every reconcile), and other objects keep manualSelector as they are', () => {
    const copyAsStored: KubeObject = { ...replicaCopy(sourceJob()), metadata: { ...replicaCopy(sourceJob()).metadata, uid: 'other', resourceVersion: '3' } };
    expect(sameMirroredContent(sourceJob(), copyAsStored)).toBe(true);
    const deployment = { ...sourceJob(), apiVersion: 'apps/v1', kind: 'Deployment' };
    expect((mirroredContent(deployment) as { spec: Record<string, unknown> }).spec.manualSelector).toBe(false);
  });
});

describe("workload status is the source's", () => {
  it.each([
    ['deployments.apps', true],
    ['statefulsets.apps', true],
    ['daemonsets.apps', true],
    ['jobs.batch', true],
    ['cronjobs.batch', true],
    ['configmaps', false],
    ['replicasets.apps', false],
  ])('%s: %s', (shard, expected) => expect(hasSourceStatus(shard)).toBe(expected));

  it('writes the source status over a different one, nothing when equal', () => {
    const destination = { ...sourceJob(), metadata: { name: 'j1', namespace: 'apps', resourceVersion: '4' }, status: {} };
    expect(statusUpdate(sourceJob(), destination)).toEqual({ ...destination, status: { active: 1 } });
    expect(statusUpdate(sourceJob(), { ...destination, status: { active: 1 } })).toBeUndefined();
    expect(statusUpdate({ ...sourceJob(), status: undefined }, { ...destination, status: undefined })).toBeUndefined();
  });
});

describe('CRDs before their custom resources', () => {
  it('starts the CRD shard first', () => {
    expect(crdsFirst(['widgets.example.com', 'configmaps', CRD_SHARD])).toEqual([CRD_SHARD, 'widgets.example.com', 'configmaps']);
  });

  const answering = (status: number, body: unknown) => ({ request: async () => ({ status, body }) }) as never;
  const established = (value: string) => ({ status: { conditions: [{ type: 'Established', status: value, message: 'installing' }] } });

  it.each([
    ['missing', answering(404, {}), /widgets\.example\.com is missing on the destination/],
    ['not Established', answering(200, established('False')), /is not Established \(installing\) on the destination/],
    ['no conditions yet', answering(200, {}), /not Established \(HTTP 200\)/],
  ])('%s: waits with a reason', async (_name, rest, message) => {
    const err = await ensureEstablished(rest, 'destination', 'widgets.example.com').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CrdNotEstablished);
    expect((err as CrdNotEstablished).reason).toBe('crd-not-established');
    expect((err as Error).message).toMatch(message);
  });

  it('Established: goes on', async () => {
    await expect(ensureEstablished(answering(200, established('True')), 'destination', 'widgets.example.com')).resolves.toBeUndefined();
  });
});
