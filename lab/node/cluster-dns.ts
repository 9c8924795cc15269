/**
 * A stand-in for CoreDNS on the real node: answers A queries for `<service>.<namespace>.svc.cluster.local`
 * with the Service's ClusterIP, read from the API server at each query (lab traffic is tiny), and
 * NXDOMAIN for every other name (nothing outside the host can be reached anyway). UDP only, which is
 * what glibc, musl, busybox and Go's resolver use for such answers.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { KubeRestClient } from '../../lib/kube/rest-client.js';

const TYPE_A = 1;
const CLASS_IN = 1;
const RCODE_NXDOMAIN = 3;
const RCODE_FORMERR = 1;
const TTL_SECONDS = 5;

export interface DnsQuestion {
  id: number;
  name: string;
  type: number;
  /** The question section as received, echoed in the answer. */
  question: Buffer;
  /** The client asked for recursion (echoed). */
  recursionDesired: boolean;
}

/** The first question of a query, or undefined when the packet is not one we can read. */
export function parseQuery(packet: Buffer): DnsQuestion | undefined {
  if (packet.length < 12 || packet.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let at = 12;
  for (;;) {
    const len = packet[at];
    if (len === undefined || len > 63) return undefined; // compression is not used in questions
    at++;
    if (len === 0) break;
    if (at + len > packet.length) return undefined;
    labels.push(
      packet
        .subarray(at, at + len)
        .toString('latin1')
        .toLowerCase(),
    );
    at += len;
  }
  if (at + 4 > packet.length) return undefined;
  const type = packet.readUInt16BE(at);
  return { id: packet.readUInt16BE(0), name: labels.join('.'), type, question: packet.subarray(12, at + 4), recursionDesired: (packet[2]! & 1) === 1 };
}

/** The answer to `q`: rcode 0 with the addresses (none: NODATA), or another rcode with no answer. */
export function buildAnswer(q: DnsQuestion, rcode: number, addresses: readonly string[] = []): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  header.writeUInt16BE(0x8400 | (q.recursionDesired ? 0x100 : 0) | rcode, 2); // QR, AA
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(addresses.length, 6);
  const answers = addresses.map((ip) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
    rr.writeUInt16BE(TYPE_A, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(TTL_SECONDS, 6);
    rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i));
    return rr;
  });
  return Buffer.concat([header, q.question, ...answers]);
}

/** `<service>.<namespace>` of a Service name in the cluster domain, or undefined. */
export function serviceOf(name: string, domain = 'cluster.local'): { service: string; namespace: string } | undefined {
  const m = new RegExp(`^([a-z0-9-]+)\\.([a-z0-9-]+)\\.svc\\.${domain.replace(/\./g, '\\.')}$`).exec(name);
  return m ? { service: m[1]!, namespace: m[2]! } : undefined;
}

/** The ClusterIP of a Service, undefined when it has none or does not exist. */
export type ServiceLookup = (namespace: string, service: string) => Promise<string | undefined>;

export function apiServiceLookup(client: KubeRestClient): ServiceLookup {
  return async (namespace, service) => {
    const res = await client.request<{ spec?: { clusterIP?: string } }>('GET', `/api/v1/namespaces/${namespace}/services/${service}`);
    const ip = res.status === 200 ? res.body?.spec?.clusterIP : undefined;
    return ip && ip !== 'None' ? ip : undefined;
  };
}

export async function answerQuery(packet: Buffer, lookup: ServiceLookup): Promise<Buffer | undefined> {
  const q = parseQuery(packet);
  if (!q)
    return packet.length >= 12
      ? buildAnswer({ id: packet.readUInt16BE(0), name: '', type: 0, question: Buffer.alloc(0), recursionDesired: false }, RCODE_FORMERR)
      : undefined;
  const svc = serviceOf(q.name);
  const ip = svc ? await lookup(svc.namespace, svc.service) : undefined;
  if (!ip) return buildAnswer(q, RCODE_NXDOMAIN);
  return buildAnswer(q, 0, q.type === TYPE_A ? [ip] : []);
}

export function serveDns(host: string, port: number, lookup: ServiceLookup, onError: (err: unknown) => void): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.on('message', (packet, peer) => {
    answerQuery(packet, lookup).then(
      (answer) => answer && socket.send(answer, peer.port, peer.address),
      (err: unknown) => onError(err),
    );
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      socket.on('error', onError);
      resolve(socket);
    });
  });
}
