/** Writes kubeconfig files (client-go's format) for certificate or token credentials. */
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

export type KubeconfigCredentials = { clientCertPem: string; clientKeyPem: string } | { token: string };

export interface KubeconfigSpec {
  clusterName: string;
  server: string;
  caPem: string;
  userName: string;
  credentials: KubeconfigCredentials;
  namespace?: string;
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

export function renderKubeconfig(spec: KubeconfigSpec): string {
  const user =
    'token' in spec.credentials
      ? { token: spec.credentials.token }
      : { 'client-certificate-data': b64(spec.credentials.clientCertPem), 'client-key-data': b64(spec.credentials.clientKeyPem) };
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: spec.clusterName, cluster: { server: spec.server, 'certificate-authority-data': b64(spec.caPem) } }],
    users: [{ name: spec.userName, user }],
    contexts: [
      {
        name: spec.clusterName,
        context: { cluster: spec.clusterName, user: spec.userName, ...(spec.namespace ? { namespace: spec.namespace } : {}) },
      },
    ],
    'current-context': spec.clusterName,
  });
}

export function writeKubeconfig(path: string, spec: KubeconfigSpec): void {
  writeFileSync(path, renderKubeconfig(spec), { mode: 0o600 });
}
