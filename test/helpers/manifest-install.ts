/**
 * Installs the bridge into a real-node lab (`lab up --real-node`) the way the top README tells users:
 * this tree's images (built with the caches) imported into each node's containerd, the bridge CA and the components' Secrets made with
 * `bridgectl certs` and kubectl, then `kubectl apply -k` of manifests/source, manifests/destination and
 * manifests/synchronizer, each through a kustomize overlay written here that adds only lab values:
 * - the addresses the manifests leave to the operator (BRIDGE_UPSTREAM, BRIDGE_SYNCHRONIZER_URL, the
 *   API servers in the components' kubeconfigs): relays on the node bridges (lab-relay.ts), the lab's
 *   stand-in for a load balancer; the API servers' certificates name 127.0.0.1, hence `tls-server-name`;
 * - a nodeSelector for the real node (kwok's fake node would "run" them without running anything).
 * The destination runs without its deployment and replicaset controllers (a migration needs them off,
 * lib/mirror/workload-controllers.ts), so nothing turns the aggregator's Deployment into pods there: its pods
 * are created here from the Deployment's template, as those controllers would.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { buildProductImages } from '../../lab/images/build-images.js';
import { requireLab } from '../../lab/lab-files.js';
import type { ClusterName } from '../../lab/control-plane.js';
import { REAL_NODE_NAME } from '../../lab/node/kubelet-config.js';
import type { RealNodeState } from '../../lab/node/real-node.js';
import { KUBERNETES_SERVICE_HOST_NAME } from '../../lib/names.js';
import { waitUntil } from '../../lib/wait-until.js';
import { kubectlOk, run } from './lab-clients.js';
import { startRelay, type Relay } from './lab-relay.js';

const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');
const MANIFESTS = join(process.cwd(), 'manifests');
const SYSTEM_NS = 'cluster-bridge-system';

export interface ManifestInstall {
  /** What the source's sidecars dial (BRIDGE_UPSTREAM): the relay to the aggregator pods. */
  aggregatorRelay: Relay;
  relays: Relay[];
  close(): Promise<void>;
}

interface PodObject {
  metadata: { name: string; labels?: Record<string, string>; creationTimestamp?: string };
  spec: { nodeName?: string };
  status: { podIP?: string; conditions?: { type: string; status: string; lastTransitionTime?: string }[]; containerStatuses?: { ready: boolean }[] };
}

export function realNodeOf(cluster: ClusterName): RealNodeState {
  const node = requireLab().clusters[cluster].realNode;
  if (!node) throw new Error(`the lab has no real node for ${cluster}: start it with \`lab up --real-node\``);
  return node;
}

async function bridgectl(args: string[]): Promise<string> {
  const result = await run(process.execPath, [CLI, ...args]);
  if (result.code !== 0) throw new Error(`bridgectl ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

export async function pods(cluster: ClusterName, namespace: string, selector: string): Promise<PodObject[]> {
  return (JSON.parse(await kubectlOk(cluster, ['-n', namespace, 'get', 'pods', '-l', selector, '-o', 'json'])) as { items: PodObject[] }).items;
}

export const isReady = (pod: PodObject) => pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** `ip:port` of the ready pods a selector picks, asked at most once a second (a relay asks per connection). */
function readyPodAddresses(cluster: ClusterName, selector: string, port: number): () => Promise<string[]> {
  let cached: { at: number; list: Promise<string[]> } | undefined;
  return () => {
    if (!cached || Date.now() - cached.at > 1000) {
      const list = pods(cluster, SYSTEM_NS, selector).then((items) => items.filter(isReady).map((p) => `${p.status.podIP}:${port}`));
      cached = { at: Date.now(), list };
    }
    return cached.list;
  };
}

/** `ctr images import` of a docker-archive into a node's containerd (namespace k8s.io, as the kubelet reads it). */
export async function importImage(cluster: ClusterName, archive: string): Promise<void> {
  const result = await run('ctr', ['-n', 'k8s.io', '--address', realNodeOf(cluster).containerdSocket, 'images', 'import', archive]);
  if (result.code !== 0) throw new Error(`ctr images import ${archive} into ${cluster} failed: ${result.stderr}`);
}

/**
 * This tree's product images (`npm run images`: a cache lookup when nothing changed), copied out of the
 * shared cache at once: any worktree's build rewrites the same tarballs, and a webhook image of other
 * code with this tree's certificates and manifests failed this test (its reconciler never started).
 * Each copy must hold the image just built (docker-archive manifest.json names the config digest).
 */
async function productArchives(dir: string): Promise<string[]> {
  const build = await buildProductImages();
  mkdirSync(dir, { recursive: true });
  return Object.values(build.images).map((image) => {
    const copy = join(dir, basename(image.tarball));
    copyFileSync(image.tarball, copy);
    const manifest = JSON.parse(execFileSync('tar', ['-xOf', copy, 'manifest.json'], { encoding: 'utf8' })) as { Config: string }[];
    if (manifest[0]?.Config !== `${image.id}.json`) {
      throw new Error(`${image.tarball} holds ${manifest[0]?.Config}, not ${image.reference} ${image.id}: another tree rebuilt it meanwhile; run again`);
    }
    return copy;
  });
}

/** A kustomize overlay of `manifests/<base>` in `dir`: the real node's nodeSelector, and `patches` (strategic merge). */
function writeOverlay(dir: string, base: string, patches: object[]): string {
  mkdirSync(dir, { recursive: true });
  const nodeSelector = { spec: { template: { spec: { nodeSelector: { 'kubernetes.io/hostname': REAL_NODE_NAME } } } } };
  const kustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: [relative(dir, join(MANIFESTS, base))],
    patches: [
      { target: { kind: 'Deployment' }, patch: JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'any' }, ...nodeSelector }) },
      ...patches.map((p) => ({ patch: JSON.stringify(p) })),
    ],
  };
  writeFileSync(join(dir, 'kustomization.yaml'), JSON.stringify(kustomization, null, 2));
  return dir;
}

function envPatch(name: string, container: string, env: Record<string, string>): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: SYSTEM_NS },
    spec: { template: { spec: { containers: [{ name: container, env: Object.entries(env).map(([k, value]) => ({ name: k, value })) }] } } },
  };
}

/** A kubeconfig with a bearer token (inline, or read from `tokenFile` as the synchronizer's is) for an API server reached by a relay. */
async function relayKubeconfig(file: string, relay: Relay, caFile: string, token: { inline: string } | { file: string }): Promise<void> {
  const set = (args: string[]) => kubectlOk(file, ['config', ...args]);
  // The lab's API server certificates name 127.0.0.1 (and the first service IP), not the bridge address.
  await set([
    'set-cluster',
    'c',
    `--server=https://${relay.host}:${relay.port}`,
    `--certificate-authority=${caFile}`,
    '--embed-certs',
    '--tls-server-name=127.0.0.1',
  ]);
  if ('inline' in token) await set(['set-credentials', 'u', `--token=${token.inline}`]);
  else {
    await set(['set-credentials', 'u', '--token=placeholder']);
    await set(['unset', 'users.u.token']);
    await set(['set', 'users.u.tokenFile', token.file]);
  }
  await set(['set-context', 'default', '--cluster=c', '--user=u']);
  await set(['use-context', 'default']);
}

/** The Deployment controller's job in the destination, where it is off: its template's pods, `replicas` of them. */
async function podsOfDeployment(cluster: ClusterName, overlay: string, name: string): Promise<void> {
  const docs = parseAllDocuments(await kubectlOk(cluster, ['kustomize', overlay]));
  const list = {
    items: docs.map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec: { replicas?: number; template: { metadata: object; spec: object } } }),
  };
  const deployment = list.items.find((o) => o.kind === 'Deployment' && o.metadata.name === name);
  if (!deployment) throw new Error(`${overlay} renders no Deployment ${name}`);
  for (let i = 0; i < (deployment.spec.replicas ?? 1); i++) {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { ...deployment.spec.template.metadata, name: `${name}-${i}`, namespace: SYSTEM_NS },
      spec: deployment.spec.template.spec,
    };
    await kubectlOk(cluster, ['apply', '-f', '-'], JSON.stringify(pod));
  }
}

/** Waits until `count` pods of a selector are Ready on the real node; returns them. */
export async function waitReady(cluster: ClusterName, selector: string, count: number, timeoutMs = 180_000): Promise<PodObject[]> {
  return waitUntil(
    `${count} Ready pod(s) ${selector} on ${cluster}'s ${REAL_NODE_NAME}`,
    async () => {
      const ready = (await pods(cluster, SYSTEM_NS, selector)).filter((p) => isReady(p) && p.spec.nodeName === REAL_NODE_NAME);
      return ready.length >= count && ready;
    },
    { timeoutMs, intervalMs: 500 },
  );
}

export async function installFromManifests(workDir: string): Promise<ManifestInstall> {
  const lab = requireLab();
  const src = realNodeOf('source').podSubnet.gateway;
  const dst = realNodeOf('destination').podSubnet.gateway;
  const relays: Relay[] = [];
  const relay = async (host: string, targets: () => Promise<string[]>) => {
    const r = await startRelay(host, targets);
    relays.push(r);
    return r;
  };
  const aggregatorRelay = await relay(src, readyPodAddresses('destination', 'app.kubernetes.io/name=cluster-bridge-aggregator', 9443));
  const sourceApi = await relay(dst, async () => [`127.0.0.1:${lab.clusters.source.apiserverPort}`]);
  const synchronizerRelay = await relay(dst, readyPodAddresses('source', 'app.kubernetes.io/name=cluster-bridge-synchronizer', 9444));
  const destinationApi = await relay(src, async () => [`127.0.0.1:${lab.clusters.destination.apiserverPort}`]);
  const close = async () => {
    for (const r of relays) await r.close();
  };
  try {
    const archives = await productArchives(join(workDir, 'images'));
    for (const archive of archives) await Promise.all([importImage('source', archive), importImage('destination', archive)]);
    const ca = join(workDir, 'ca');

    // The webhook (README, "The webhook"): namespace, bridge CA Secret, BRIDGE_UPSTREAM, apply -k.
    await kubectlOk('source', ['create', 'namespace', SYSTEM_NS]);
    await bridgectl(['certs', 'ca', '--out', ca]);
    // The webhook holds the two intermediates, never the root's key (docs/adr/0021).
    for (const kind of ['serving', 'client']) {
      const files = `${ca}/bridge-ca-${kind}`;
      await kubectlOk('source', ['-n', SYSTEM_NS, 'create', 'secret', 'tls', `cluster-bridge-${kind}-ca`, `--cert=${files}.crt`, `--key=${files}.key`]);
    }
    const sourceOverlay = writeOverlay(join(workDir, 'overlay-source'), 'source', [
      envPatch('cluster-bridge-webhook', 'webhook', { BRIDGE_UPSTREAM: `${src}:${aggregatorRelay.port}` }),
    ]);
    await kubectlOk('source', ['apply', '-k', sourceOverlay]);

    // The aggregator (README, "The rollout"): its certificate for the address the sidecars dial and for the name DNS-mode pods
    // dial (kubernetes.default.svc, which the webhook maps to that address by hostAliases), the source as its identity there.
    await kubectlOk('destination', ['create', 'namespace', SYSTEM_NS]);
    const aggregatorSans = ['--san', src, '--san', KUBERNETES_SERVICE_HOST_NAME];
    await kubectlOk('destination', ['create', '-f', '-'], await bridgectl(['certs', 'aggregator', '--ca-dir', ca, ...aggregatorSans, '--secret']));
    const sourceCa = join(workDir, 'source-ca.crt');
    writeFileSync(sourceCa, await kubectlOk('source', ['-n', SYSTEM_NS, 'get', 'configmap', 'kube-root-ca.crt', '-o', 'jsonpath={.data.ca\\.crt}']));
    const aggregatorToken = (await kubectlOk('source', ['-n', SYSTEM_NS, 'create', 'token', 'cluster-bridge-aggregator', '--duration=24h'])).trim();
    const sourceKubeconfig = join(workDir, 'source.kubeconfig');
    await relayKubeconfig(sourceKubeconfig, sourceApi, sourceCa, { inline: aggregatorToken });
    await kubectlOk('destination', [
      '-n',
      SYSTEM_NS,
      'create',
      'secret',
      'generic',
      'cluster-bridge-source-kubeconfig',
      `--from-file=kubeconfig=${sourceKubeconfig}`,
    ]);
    const destinationOverlay = writeOverlay(join(workDir, 'overlay-destination'), 'destination', [
      envPatch('cluster-bridge-aggregator', 'aggregator', { BRIDGE_SYNCHRONIZER_URL: `https://${dst}:${synchronizerRelay.port}` }),
    ]);
    await kubectlOk('destination', ['apply', '-k', destinationOverlay]);
    await podsOfDeployment('destination', destinationOverlay, 'cluster-bridge-aggregator');

    // The synchronizer (README, "The synchronizer"): a first token of a day in a kubeconfig reading it from a file.
    const destinationCa = join(workDir, 'dest-ca.crt');
    writeFileSync(destinationCa, await kubectlOk('destination', ['-n', SYSTEM_NS, 'get', 'configmap', 'kube-root-ca.crt', '-o', 'jsonpath={.data.ca\\.crt}']));
    const tokenFile = join(workDir, 'token');
    writeFileSync(tokenFile, (await kubectlOk('destination', ['-n', SYSTEM_NS, 'create', 'token', 'cluster-bridge-synchronizer', '--duration=24h'])).trim());
    const syncKubeconfig = join(workDir, 'sync-dest.kubeconfig');
    await relayKubeconfig(syncKubeconfig, destinationApi, destinationCa, { file: '/var/run/cluster-bridge/destination/token' });
    await kubectlOk('source', ['create', '-f', '-'], await bridgectl(['certs', 'synchronizer', '--ca-dir', ca, '--san', dst, '--secret']));
    await kubectlOk('source', [
      '-n',
      SYSTEM_NS,
      'create',
      'secret',
      'generic',
      'cluster-bridge-destination-kubeconfig',
      `--from-file=kubeconfig=${syncKubeconfig}`,
      `--from-file=token=${tokenFile}`,
    ]);
    await kubectlOk('source', ['apply', '-k', writeOverlay(join(workDir, 'overlay-synchronizer'), 'synchronizer', [])]);
    return { aggregatorRelay, relays, close };
  } catch (error) {
    await close();
    throw error;
  }
}
