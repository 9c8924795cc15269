/**
 * The real node's services daemon (a lab daemon, runs until SIGTERM):
 * `node node-services-main.js <dns host> <dns port> <kubeconfig> <chain> <apiserver port>`.
 * It answers the pods' DNS (cluster-dns.ts) and keeps the node's Service chain in step with the
 * cluster's Services and EndpointSlices (service-routes.ts), polling once a second: lab clusters are small.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../../lib/errors.js';
import { KubeRestClient } from '../../lib/kube/rest-client.js';
import { apiServiceLookup, serveDns } from './cluster-dns.js';
import { applyServiceChain, renderServiceChain, serviceRoutes, type EndpointSliceObject, type ServiceObject } from './service-routes.js';

const SYNC_INTERVAL_MS = 1000;
const [host, port, kubeconfig, chain, apiserverPort] = process.argv.slice(2);
if (!host || !port || !kubeconfig || !chain || !apiserverPort) {
  process.stderr.write('usage: node-services-main <dns host> <dns port> <kubeconfig> <chain> <apiserver port>\n');
  process.exit(2);
}
const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
const client = KubeRestClient.load(kubeconfig);
const socket = await serveDns(host, Number(port), apiServiceLookup(client), (err) => log(`dns: ${errorMessage(err)}`));
log(`cluster DNS stand-in answering on ${host}:${port}; syncing Service routes into chain ${chain}`);
let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
  socket.close(() => process.exit(0));
});

async function items<T>(path: string): Promise<T[]> {
  const res = await client.request<{ items?: T[] }>('GET', path);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
  return res.body?.items ?? [];
}

let applied = '';
while (!stopping) {
  try {
    const [services, slices] = await Promise.all([
      items<ServiceObject>('/api/v1/services'),
      items<EndpointSliceObject>('/apis/discovery.k8s.io/v1/endpointslices'),
    ]);
    const routes = serviceRoutes(services, slices, Number(apiserverPort));
    const wanted = renderServiceChain(chain, routes);
    if (wanted !== applied) {
      await applyServiceChain(chain, routes);
      applied = wanted;
      log(`service routes: ${routes.length} ports, ${routes.reduce((n, r) => n + r.targets.length, 0)} endpoints`);
    }
  } catch (err) {
    log(`service routes: ${errorMessage(err)}`);
  }
  await sleep(SYNC_INTERVAL_MS);
}
