/**
 * The certificates cluster-bridge issues: serving certificates (the webhook's and the components'
 * Services in all four DNS forms, the sidecar's loopback listener) from the serving intermediate, and
 * mTLS client certificates (sidecars, components) from the client intermediate (certs/bridge-authority.ts,
 * ADR 0021). Each function takes the issuer it needs; serials are random and key usages correct
 * (lib/tls/pki.ts does the signing).
 */
import type { ComponentTlsFiles, SidecarTlsFiles } from './cert-files.js';
import { SIDECAR_NAME, SYSTEM_NAMESPACE, WEBHOOK_SERVICE } from '../lib/names.js';
import { issueCertificate, serviceDnsNames, type CertificateAndKey } from '../lib/tls/pki.js';
import { bridgeRootPem, LOOPBACK_NAMES, type BridgeIssuers, type SidecarIssuers } from './bridge-authority.js';

/** The identity the aggregator trusts identity headers from (DESIGN.md section 4). */
export const SIDECAR_CLIENT_COMMON_NAME = 'cluster-bridge-sidecar';
export const SIDECAR_CLIENT_ORGANIZATION = 'cluster-bridge:sidecars';

/**
 * Names a sidecar's loopback listener answers to: loopback only. In-cluster clients (client-go,
 * client-node, python-kubernetes) dial `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`, which
 * the webhook sets to 127.0.0.1:16443, and verify that IP. A serving key for `kubernetes.default.svc` in
 * every labelled namespace would let any of them impersonate the API server to the pods of the others
 * (issue 21); a client that dials that name reaches the real API server and its own certificate. The
 * sidecars' serving intermediate certifies these names and no other (certs/bridge-authority.ts).
 */
export const SIDECAR_DNS_NAMES = [...LOOPBACK_NAMES.dnsNames];
export const SIDECAR_IP_ADDRESSES = [...LOOPBACK_NAMES.ipAddresses];

export interface ValidityOptions {
  validityDays?: number;
  notBefore?: Date;
  notAfter?: Date;
}

export interface WebhookCertOptions extends ValidityOptions {
  serviceName?: string;
  namespace?: string;
  extraDnsNames?: string[];
  ipAddresses?: string[];
}

export function webhookDnsNames(options: Pick<WebhookCertOptions, 'serviceName' | 'namespace' | 'extraDnsNames'> = {}): string[] {
  const names = [
    ...serviceDnsNames(options.serviceName ?? WEBHOOK_SERVICE, options.namespace ?? SYSTEM_NAMESPACE),
    'localhost',
    ...(options.extraDnsNames ?? []),
  ];
  return [...new Set(names)];
}

export function issueWebhookServingCert(ca: CertificateAndKey, options: WebhookCertOptions = {}): Promise<CertificateAndKey> {
  const serviceName = options.serviceName ?? WEBHOOK_SERVICE;
  return issueCertificate(ca, {
    commonName: `${serviceName}.${options.namespace ?? SYSTEM_NAMESPACE}.svc`,
    dnsNames: webhookDnsNames(options),
    ipAddresses: [...new Set(['127.0.0.1', ...(options.ipAddresses ?? [])])],
    usage: 'server',
    validityDays: options.validityDays,
    notBefore: options.notBefore,
    notAfter: options.notAfter,
  });
}

export function issueSidecarServingCert(ca: CertificateAndKey, options: ValidityOptions = {}): Promise<CertificateAndKey> {
  return issueCertificate(ca, {
    commonName: SIDECAR_NAME,
    dnsNames: SIDECAR_DNS_NAMES,
    ipAddresses: SIDECAR_IP_ADDRESSES,
    usage: 'server',
    ...options,
  });
}

/** The organization that carries a sidecar certificate's namespace (the aggregator trusts only this, not headers). */
export const SIDECAR_NAMESPACE_ORGANIZATION_PREFIX = 'cluster-bridge:namespace:';

/**
 * A sidecar's mTLS client certificate; with `namespace`, it names the one namespace its pods may
 * speak for (DESIGN.md section 4: per-namespace certificates).
 */
export function issueSidecarClientCert(ca: CertificateAndKey, options: ValidityOptions & { namespace?: string } = {}): Promise<CertificateAndKey> {
  const { namespace, ...validity } = options;
  return issueCertificate(ca, {
    commonName: namespace ? `${SIDECAR_CLIENT_COMMON_NAME}.${namespace}` : SIDECAR_CLIENT_COMMON_NAME,
    organizations: namespace ? [SIDECAR_CLIENT_ORGANIZATION, `${SIDECAR_NAMESPACE_ORGANIZATION_PREFIX}${namespace}`] : [SIDECAR_CLIENT_ORGANIZATION],
    usage: 'client',
    ...validity,
  });
}

/** Everything a sidecar mounts, for the pods of one namespace (with `namespace`) or any (without). */
export async function issueSidecarTlsFiles(
  issuers: SidecarIssuers,
  trustBundlePem: string,
  options: ValidityOptions & { namespace?: string } = {},
): Promise<SidecarTlsFiles> {
  const { namespace, ...validity } = options;
  const [serving, client] = await Promise.all([
    issueSidecarServingCert(issuers.serving, validity),
    issueSidecarClientCert(issuers.client, { ...validity, namespace }),
  ]);
  return { 'tls.crt': serving.certPem, 'tls.key': serving.keyPem, 'client.crt': client.certPem, 'client.key': client.keyPem, 'ca.crt': trustBundlePem };
}

/** The client identity of the bridge's own components (the aggregator asking the synchronizer to catch up). */
export const COMPONENT_CLIENT_ORGANIZATION = 'cluster-bridge:components';

/**
 * A component's mTLS client certificate, issued by the components' intermediate (`issuers.componentClient`,
 * never the sidecars'): its Service name as the common name, so each internal API can accept exactly
 * its one caller (lib/tls/peer-certificate.ts; the catch-up API: the aggregator only).
 */
export function issueComponentClientCert(ca: CertificateAndKey, serviceName: string, validity: ValidityOptions = {}): Promise<CertificateAndKey> {
  return issueCertificate(ca, { commonName: serviceName, organizations: [COMPONENT_CLIENT_ORGANIZATION], usage: 'client', ...validity });
}

/**
 * Serving certificate for the component's Service (all four forms) plus the names and IPs its peers in
 * the other cluster dial; with `client`, an mTLS client certificate too.
 */
export async function issueComponentTlsFiles(
  issuers: BridgeIssuers,
  serviceName: string,
  options: ValidityOptions & { namespace?: string; extraDnsNames?: string[]; ipAddresses?: string[]; client?: boolean } = {},
): Promise<ComponentTlsFiles> {
  const { namespace, extraDnsNames, ipAddresses, client, ...validity } = options;
  const serving = await issueWebhookServingCert(issuers.componentServing, { serviceName, namespace, extraDnsNames, ipAddresses, ...validity });
  const files: ComponentTlsFiles = { 'tls.crt': serving.certPem, 'tls.key': serving.keyPem, 'ca.crt': bridgeRootPem(issuers) };
  if (!client) return files;
  const pair = await issueComponentClientCert(issuers.componentClient, serviceName, validity);
  return { ...files, 'client.crt': pair.certPem, 'client.key': pair.keyPem };
}
