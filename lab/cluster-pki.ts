/** Each lab cluster's own PKI, made once and reused by later `lab up` runs. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateCa, generateRsaKeyPair, issueCertificate, type CertificateAndKey } from '../lib/tls/pki.js';
import { ensurePemPair } from '../certs/cert-files.js';
import { LAB_NODE_NAME } from './kubelet-streaming.js';
import { KUBERNETES_SERVICE_NAMES } from '../lib/names.js';

export interface ClusterPki {
  dir: string;
  ca: CertificateAndKey;
  etcdCa: CertificateAndKey;
  apiserver: CertificateAndKey;
  apiserverEtcdClient: CertificateAndKey;
  etcdServer: CertificateAndKey;
  admin: CertificateAndKey;
  controllerManager: CertificateAndKey;
  scheduler: CertificateAndKey;
  /** kwok's kubelet API on the fake node, and kube-apiserver's client certificate for it. */
  kubeletServing: CertificateAndKey;
  apiserverKubeletClient: CertificateAndKey;
  serviceAccountPublicKeyPem: string;
  serviceAccountPrivateKeyPem: string;
}

/** The first address of the service CIDR is the `kubernetes` Service's ClusterIP. */
export function firstServiceIp(serviceCidr: string): string {
  const [network] = serviceCidr.split('/');
  const octets = network!.split('.').map(Number);
  octets[3] = octets[3]! + 1;
  return octets.join('.');
}

export async function ensureClusterPki(dir: string, clusterName: string, serviceCidr: string): Promise<ClusterPki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = await ensurePemPair(dir, 'ca', () => generateCa(`cluster-bridge-lab-${clusterName}-ca`));
  const etcdCa = await ensurePemPair(dir, 'etcd-ca', () => generateCa(`cluster-bridge-lab-${clusterName}-etcd-ca`));
  const apiserver = await ensurePemPair(dir, 'apiserver', () =>
    issueCertificate(ca, {
      commonName: 'kube-apiserver',
      usage: 'server',
      dnsNames: ['localhost', ...KUBERNETES_SERVICE_NAMES],
      ipAddresses: ['127.0.0.1', firstServiceIp(serviceCidr)],
    }),
  );
  const etcdServer = await ensurePemPair(dir, 'etcd-server', () =>
    issueCertificate(etcdCa, { commonName: 'etcd', usage: 'server-and-client', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }),
  );
  const apiserverEtcdClient = await ensurePemPair(dir, 'apiserver-etcd-client', () =>
    issueCertificate(etcdCa, { commonName: 'kube-apiserver-etcd-client', usage: 'client' }),
  );
  const admin = await ensurePemPair(dir, 'admin', () =>
    issueCertificate(ca, { commonName: 'cluster-bridge-lab-admin', organizations: ['system:masters'], usage: 'client' }),
  );
  const controllerManager = await ensurePemPair(dir, 'controller-manager', () =>
    issueCertificate(ca, { commonName: 'system:kube-controller-manager', usage: 'client' }),
  );
  const scheduler = await ensurePemPair(dir, 'scheduler', () => issueCertificate(ca, { commonName: 'system:kube-scheduler', usage: 'client' }));
  const kubeletServing = await ensurePemPair(dir, 'kubelet', () =>
    issueCertificate(ca, { commonName: `system:node:${LAB_NODE_NAME}`, usage: 'server', dnsNames: ['localhost', LAB_NODE_NAME], ipAddresses: ['127.0.0.1'] }),
  );
  const apiserverKubeletClient = await ensurePemPair(dir, 'apiserver-kubelet-client', () =>
    issueCertificate(ca, { commonName: 'kube-apiserver-kubelet-client', organizations: ['system:masters'], usage: 'client' }),
  );

  const saKey = join(dir, 'sa.key');
  const saPub = join(dir, 'sa.pub');
  if (!existsSync(saKey) || !existsSync(saPub)) {
    const keys = await generateRsaKeyPair();
    writeFileSync(saKey, keys.privateKeyPem, { mode: 0o600 });
    writeFileSync(saPub, keys.publicKeyPem);
  }
  return {
    dir,
    ca,
    etcdCa,
    apiserver,
    apiserverEtcdClient,
    etcdServer,
    admin,
    controllerManager,
    scheduler,
    kubeletServing,
    apiserverKubeletClient,
    serviceAccountPrivateKeyPem: readFileSync(saKey, 'utf8'),
    serviceAccountPublicKeyPem: readFileSync(saPub, 'utf8'),
  };
}
