/**
 * The real node's kubelet: its KubeletConfiguration and its two certificates from the cluster CA (a
 * client certificate as system:node:<name> for the Node authorizer and NodeRestriction, and a serving
 * certificate for the node address that kube-apiserver verifies with the same CA).
 */
import { join } from 'node:path';
import { stringify } from 'yaml';
import { readPemPair } from '../../certs/cert-files.js';
import { issueCertificate, type CertificateAndKey } from '../../lib/tls/pki.js';

export const REAL_NODE_NAME = 'lab-real-node';

export interface KubeletSettings {
  nodeIp: string;
  port: number;
  healthzPort: number;
  cgroupRoot: string;
  containerdSocket: string;
  clientCaFile: string;
  tlsCertFile: string;
  tlsKeyFile: string;
  /** The pods' nameserver: the lab's DNS responder on the bridge address. */
  clusterDns: string;
  /** What the pods' resolv.conf copies besides the cluster search path: a file with no nameserver of the host. */
  resolvConf: string;
  /** The node's own pod log folder (absolute). */
  podLogsDir: string;
}

export function renderKubeletConfig(s: KubeletSettings): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: s.nodeIp,
    port: s.port,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: s.healthzPort,
    // This machine: cgroup v1 with a `unified` mount (hybrid) and no systemd.
    cgroupDriver: 'cgroupfs',
    failCgroupV1: false,
    // Each lab node has its own root under every hierarchy, so two kubelets never manage the same cgroups.
    cgroupRoot: s.cgroupRoot,
    failSwapOn: false,
    containerRuntimeEndpoint: `unix://${s.containerdSocket}`,
    tlsCertFile: s.tlsCertFile,
    tlsPrivateKeyFile: s.tlsKeyFile,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: s.clientCaFile } },
    authorization: { mode: 'Webhook' },
    clusterDNS: [s.clusterDns],
    clusterDomain: 'cluster.local',
    resolvConf: s.resolvConf,
    // Not the default /var/log/pods: a kubelet deletes the folders there of pods its runtime does not
    // run, so two lab nodes on one host (or two labs) deleted each other's pod logs.
    podLogsDir: s.podLogsDir,
    // Local images only (nothing can be pulled again): never collect them, never evict for disk.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: {},
    enforceNodeAllocatable: [],
    // The lab owns no host iptables chain but its own (service-routes.ts).
    makeIPTablesUtilChains: false,
    localStorageCapacityIsolation: false,
    registerNode: true,
    maxPods: 30,
    // Shorter than the default 10 s: pod status reaches the API sooner; lab pods are few.
    nodeStatusUpdateFrequency: '5s',
    syncFrequency: '10s',
  });
}

export interface KubeletCertificates {
  client: CertificateAndKey;
  serving: CertificateAndKey;
}

export async function issueKubeletCertificates(pkiDir: string, nodeIp: string): Promise<KubeletCertificates> {
  const ca = readPemPair(join(pkiDir, 'ca.crt'), join(pkiDir, 'ca.key'));
  const identity = { commonName: `system:node:${REAL_NODE_NAME}`, organizations: ['system:nodes'] };
  const [client, serving] = await Promise.all([
    issueCertificate(ca, { ...identity, usage: 'client' }),
    issueCertificate(ca, { ...identity, usage: 'server', dnsNames: [REAL_NODE_NAME], ipAddresses: [nodeIp, '127.0.0.1'] }),
  ]);
  return { client, serving };
}
