/**
 * How the aggregator reaches one API server, from a kubeconfig: two keep-alive pools, because the
 * two kinds of request authenticate differently. `asCaller` carries only the CA: the workload's own
 * bearer token authenticates (a client certificate would win over the token in kube-apiserver's
 * authenticator union and turn every call into the aggregator's). `asBridge` carries the bridge's own
 * credentials: impersonated calls to the destination, TokenReviews, hand-offs, the routing table.
 */
import { Agent, type AgentOptions, type RequestOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { BridgeError, errorMessage } from './errors.js';
import { KubeRestClient } from './kube-rest-client.js';
import type { ClusterSide } from './routing/types.js';

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

export async function connectCluster(side: ClusterSide, kubeconfigPath: string): Promise<ClusterConnection> {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(kubeconfigPath);
  } catch (err) {
    throw new BridgeError('BRIDGE_ERR_CONFIG', `cannot load the ${side} kubeconfig ${kubeconfigPath}: ${errorMessage(err)}`, {
      fix: `pass --${side}-kubeconfig with a readable kubeconfig`,
    });
  }
  const server = kc.getCurrentCluster()?.server;
  if (!server)
    throw new BridgeError('BRIDGE_ERR_CONFIG', `the ${side} kubeconfig ${kubeconfigPath} names no current cluster server`, {
      fix: 'check its current-context',
    });
  const opts: RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const headers = Object.fromEntries(Object.entries((opts.headers as Record<string, string> | undefined) ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
  const asCaller = new Agent({ ...POOL, ca: opts.ca });
  const asBridge = new Agent({ ...POOL, ca: opts.ca, cert: opts.cert, key: opts.key });
  const rest = KubeRestClient.load(kubeconfigPath);
  return {
    side,
    url: new URL(server),
    asCaller,
    asBridge,
    bridgeHeaders: headers.authorization ? { authorization: headers.authorization } : {},
    rest,
    close() {
      asCaller.destroy();
      asBridge.destroy();
      rest.close();
    },
  };
}
