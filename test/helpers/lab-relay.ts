/**
 * The lab's stand-in for what joins two real clusters: a load balancer in front of a Service, and a
 * route to an API server. A real node's pods reach the host only on their bridge address (lab/node/README.md:
 * forwarding stays on the bridge, the API servers listen on 127.0.0.1), so each cross-cluster address
 * the manifests leave to the operator (BRIDGE_UPSTREAM, BRIDGE_SYNCHRONIZER_URL, the API servers in the
 * components' kubeconfigs) is a TCP relay on one bridge address, run by the test process, to ready
 * pods of the other cluster or to a loopback API server. Bytes pass untouched, so TLS is end to end.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface Relay {
  host: string;
  port: number;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/** Listens on `host` (a free port) and pipes each connection to one of the addresses `targets()` gives (`ip:port`). */
export async function startRelay(host: string, targets: () => Promise<string[]>): Promise<Relay> {
  const open = new Set<Socket>();
  let accepted = 0;
  let turn = 0;
  const server: Server = createServer((client) => {
    accepted++;
    open.add(client);
    client.on('close', () => open.delete(client));
    client.pause();
    targets().then(
      (list) => {
        if (list.length === 0 || client.destroyed) return client.destroy();
        const [ip, port] = splitAddress(list[turn++ % list.length] ?? '');
        const upstream = createConnection({ host: ip, port });
        open.add(upstream);
        upstream.on('close', () => open.delete(upstream));
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
        client.pipe(upstream).pipe(client);
        client.resume();
      },
      () => client.destroy(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error(`relay on ${host}: no TCP address`);
  return {
    host,
    port: address.port,
    connections: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function splitAddress(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at), Number(address.slice(at + 1))];
}
