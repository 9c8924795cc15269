/**
 * Entry of the real node's DNS responder, a lab daemon: `node cluster-dns-main.js <host> <port> <kubeconfig>`.
 * Runs until SIGTERM, as the lab's other daemons do.
 */
import { KubeRestClient } from '../../lib/kube-rest-client.js';
import { errorMessage } from '../../lib/errors.js';
import { apiServiceLookup, serveDns } from './cluster-dns.js';

const [host, port, kubeconfig] = process.argv.slice(2);
if (!host || !port || !kubeconfig) {
  process.stderr.write('usage: cluster-dns-main <host> <port> <kubeconfig>\n');
  process.exit(2);
}
const client = KubeRestClient.load(kubeconfig);
const socket = await serveDns(host, Number(port), apiServiceLookup(client), (err) => process.stderr.write(`dns: ${errorMessage(err)}\n`));
process.stdout.write(`cluster DNS stand-in answering on ${host}:${port}\n`);
process.on('SIGTERM', () => socket.close(() => process.exit(0)));
