import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Lowest port the kernel hands out for outgoing connections (Linux default 32768). */
function ephemeralRangeStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const port = Number(low);
    return Number.isInteger(port) && port > 2048 ? port : 32768;
  } catch {
    return 32768;
  }
}

/** Picked ports start here: above the well-known services, below the ephemeral range. */
const PICK_FLOOR = 20000;
const PICK_ATTEMPTS = 64;
/** Ports this process handed out, so concurrent picks never return the same one twice. */
const picked = new Set<number>();

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * A free loopback port for a server started later. It is chosen below the kernel's ephemeral range:
 * a port 0 pick comes from that range, and any process's outgoing connection (kube-apiserver's to
 * etcd, say) can take it before the server binds. Another process may still take it; callers detect that.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const ceiling = ephemeralRangeStart();
  if (ceiling - PICK_FLOOR > 1000) {
    for (let i = 0; i < PICK_ATTEMPTS; i++) {
      const port = PICK_FLOOR + Math.floor(Math.random() * (ceiling - PICK_FLOOR));
      if (picked.has(port) || !(await canListen(port, host))) continue;
      picked.add(port);
      return port;
    }
  }
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** True when something already listens on host:port. */
export async function isPortBound(port: number, host = '127.0.0.1'): Promise<boolean> {
  return !(await canListen(port, host));
}
