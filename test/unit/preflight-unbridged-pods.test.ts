// Preflight's unbridged-pods judgement (cli/preflight/unbridged-pods.ts), pure: which pods of labelled
// namespaces run without the bridge, why (the webhook's own decision, or when the pod was made), and
// the command by owner. The lab's API server runs it in test/e2e/webhook-injection-race.test.ts.
import { describe, expect, it } from '@jest/globals';
import { fixCommand, unbridgedPods, type ListedPod } from '../../cli/preflight/unbridged-pods.js';
import { COMPONENT_LABEL, INJECT_ANNOTATION, SIDECAR_NAME, STATUS_ANNOTATION } from '../../webhook/constants.js';

const pod = (name: string, extra: Partial<ListedPod['metadata']> = {}, spec: Partial<NonNullable<ListedPod['spec']>> = {}, phase = 'Running'): ListedPod => ({
  metadata: { name, namespace: 'apps', creationTimestamp: '2026-12-07T08:00:10Z', ...extra },
  spec: { ...spec, containers: [{ name: 'app', image: 'x' }] },
  status: { phase },
});
const labelled = new Map([['apps', { bundleCreated: '2026-12-07T08:00:05Z' }]]);
const owners = new Map([['apps/web-5d8f', 'web']]);

describe('unbridgedPods', () => {
  it('passes injected pods, the bridge’s own and finished ones; names the rest with why', () => {
    const injected = pod('injected', { annotations: { [STATUS_ANNOTATION]: '{"mode":"sidecar"}' } }, { initContainers: [{ name: SIDECAR_NAME, image: 'x' }] });
    const dns = pod('dns', { annotations: { [STATUS_ANNOTATION]: '{"mode":"dns"}' } });
    const forged = pod('forged', { annotations: { [STATUS_ANNOTATION]: '{"mode":"sidecar"}' } });
    const own = pod('own', { labels: { [COMPONENT_LABEL]: 'aggregator' } });
    const done = pod('done', {}, {}, 'Succeeded');
    const early = pod('early', { creationTimestamp: '2026-12-07T08:00:01Z' });
    const missed = pod('missed');
    const optout = pod('optout', { annotations: { [INJECT_ANNOTATION]: 'false' } });
    const elsewhere = pod('elsewhere', { namespace: 'unlabelled' });
    const found = unbridgedPods([injected, dns, forged, own, done, early, missed, optout, elsewhere], labelled, owners);
    expect(found.map((p) => [p.name, p.reason.split(':')[0]])).toEqual([
      ['forged', 'admitted without injection (the webhook unreachable, or it failed'],
      ['early', 'created before the namespace was labelled (or before the webhook ran)'],
      ['missed', 'admitted without injection (the webhook unreachable, or it failed'],
      ['optout', 'opted-out'],
    ]);
    expect(found.find((p) => p.name === 'optout')!.fix).toMatch(/^change the pod so the webhook injects it \(opted-out\), then kubectl -n apps get pod optout/);
  });

  it('counts every pod as made before the label while the namespace has no CA bundle yet', () => {
    expect(unbridgedPods([pod('p')], new Map([['apps', {}]]), owners)[0]!.reason).toMatch(/^created before the namespace was labelled/);
  });
});

describe('fixCommand', () => {
  const owned = (kind: string, name: string) => pod('p-1', { ownerReferences: [{ apiVersion: 'v1', kind, name, uid: 'u', controller: true }] });
  it.each([
    [owned('ReplicaSet', 'web-5d8f'), 'kubectl -n apps rollout restart deployment/web'],
    [owned('StatefulSet', 'db'), 'kubectl -n apps rollout restart statefulset/db'],
    [owned('DaemonSet', 'agent'), 'kubectl -n apps rollout restart daemonset/agent'],
    [owned('Job', 'batch-1'), 'kubectl -n apps delete pod p-1 (its Job batch-1 makes a new one)'],
    [pod('bare'), 'kubectl -n apps get pod bare -o yaml | kubectl replace --force -f -'],
  ])('%#: %p', (p, command) => {
    expect(fixCommand(p, owners)).toBe(command);
  });
});
