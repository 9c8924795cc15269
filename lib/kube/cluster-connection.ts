/**
 * How the aggregator reaches one API server, from a kubeconfig: two keep-alive pools, because the
 * two kinds of request authenticate differently. `asCaller` carries only the CA: the workload's own
 * bearer token authenticates (a client certificate would win over the token in kube-apiserver's
 * authenticator union and turn every call into the aggregator's). `asBridge` carries the bridge's own
 * credentials: impersonated calls to the destination, TokenReviews, hand-offs, the routing table.
 */
import { Agent, type AgentOptions, type RequestOptions } from 'node:https';
import type { KubeconfigAccess } from './kubeconfig-reader.js';
import { BridgeError, errorMessage } from '../errors.js';
import { IN_CLUSTER } from '../process/config.js';
import { KubeRestClient, loadKubeConfig } from './rest-client.js';
import type { ClusterSide } from '../routing/types.js';

export interface ClusterConnection {
  side: ClusterSide;
  url: URL;
  asCaller: Agent;
  asBridge: Agent;
  /** Headers the bridge's credentials need besides the client certificate (a bearer token kubeconfig). */
  bridgeHeaders: Record<string, string>;
  rest: KubeRestClient;
  close(): void;
}

const POOL: AgentOptions = { keepAlive: true, keepAliveMsecs: 15_000, maxFreeSockets: 64, scheduling: 'lifo', timeout: 60_000 };

/** How often a connection renews its token for `bridgeHeaders` (kubelet rotates token files; exec credentials expire). */
const TOKEN_REFRESH_MS = 60_000;

/**
 * `kubeconfig` is a file or IN_CLUSTER (lib/process/config.ts): the pod's ServiceAccount. `serviceAccountRoot`
 * prefixes the ServiceAccount files (tests).
 */
export async function connectCluster(side: ClusterSide, kubeconfig: string, serviceAccountRoot = ''): Promise<ClusterConnection> {
  let kc: KubeconfigAccess;
  try {
    kc = loadKubeConfig(kubeconfig, serviceAccountRoot);
  } catch (err) {
    throw new BridgeError('BRIDGE_ERR_CONFIG', `cannot load the ${side} kubeconfig ${kubeconfig}: ${errorMessage(err)}`, {
      fix: `pass --${side}-kubeconfig with a readable kubeconfig, or ${IN_CLUSTER} in a pod`,
    });
  }
  const opts: RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const trust = { ca: opts.ca, rejectUnauthorized: opts.rejectUnauthorized, servername: opts.servername };
  const asCaller = new Agent({ ...POOL, ...trust });
  const asBridge = new Agent({ ...POOL, ...trust, cert: opts.cert, key: opts.key });
  // The same access for the REST client: the kubeconfig is read once.
  const rest = KubeRestClient.fromAccess(kc);
  // Updated in place: the proxy and the mirrors read it on every request.
  const bridgeHeaders: Record<string, string> = {};
  const setAuthorization = (from: RequestOptions) => {
    const authorization = Object.entries(from.headers ?? {}).find(([k]) => k.toLowerCase() === 'authorization')?.[1];
    if (authorization) bridgeHeaders.authorization = String(authorization);
  };
  setAuthorization(opts);
  const refresh = setInterval(() => {
    const next: RequestOptions = {};
    // A failed read keeps the last token; the next tick tries again.
    void kc.applyToHTTPSOptions(next).then(
      () => setAuthorization(next),
      () => undefined,
    );
  }, TOKEN_REFRESH_MS).unref();
  return {
    side,
    url: new URL(kc.server),
    asCaller,
    asBridge,
    bridgeHeaders,
    rest,
    close() {
      clearInterval(refresh);
      asCaller.destroy();
      asBridge.destroy();
      rest.close();
    },
  };
}

/**
 * The cluster's current revision: a list without a resourceVersion is a quorum read and reports the
 * etcd revision, which is cluster-wide, so it bounds every change of every shard served there.
 */
export async function currentRevision(cluster: ClusterConnection): Promise<string> {
  const list = await cluster.rest.expect<{ metadata?: { resourceVersion?: string } }>('GET', '/api/v1/namespaces?limit=1', [200]);
  const rv = list.body.metadata?.resourceVersion;
  if (!rv) throw new BridgeError('BRIDGE_ERR_KUBE_API', `the ${cluster.side} API server returned a list without a resourceVersion`);
  return rv;
}
