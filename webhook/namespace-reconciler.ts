/**
 * Keeps, in every namespace labelled for injection, the `cluster-bridge-ca-bundle` ConfigMap (that
 * namespace's kube-root-ca.crt plus the bridge root) and the sidecar TLS Secret present and current,
 * and removes both when the label goes. Runs only on the leader replica. It holds the bridge's two
 * intermediates, never the root's key (ADR 0021).
 */
import { X509Certificate } from 'node:crypto';
import { errorMessage } from '../lib/errors.js';
import type { KubeRestClient } from '../lib/kube/rest-client.js';
import type { Logger } from '../lib/process/logger.js';
import { certificateLifetime, describeCertificate } from '../lib/tls/pki.js';
import { issueSidecarTlsFiles, SIDECAR_DNS_NAMES, SIDECAR_NAMESPACE_ORGANIZATION_PREFIX } from '../certs/bridge-certs.js';
import { bridgeRootPem, type SidecarIssuers } from '../certs/bridge-authority.js';
import { decodeSecretData, secretManifest } from '../certs/cert-files.js';
import { isDue } from '../certs/renewal.js';
import {
  ALWAYS_EXCLUDED_NAMESPACES,
  CA_BUNDLE_CONFIGMAP,
  INJECT_LABEL,
  INJECT_LABEL_VALUE,
  KUBE_ROOT_CA_CONFIGMAP,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  SIDECAR_TLS_SECRET,
} from './constants.js';
import type { WebhookMetrics } from './metrics.js';

export interface ReconcilerDeps {
  client: KubeRestClient;
  /** The serving and client intermediates that sign the sidecars' certificates. */
  issuers: SidecarIssuers;
  /** More CAs for the bundle (e.g. the aggregator's, when a different CA signs it). */
  extraCaPem?: string;
  log: Logger;
  metrics?: WebhookMetrics;
  sidecarTlsSecret?: string;
  sidecarCertDays?: number;
}

interface Obj {
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
}

const MANAGED = { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE };

/** True when the first certificate of `leafPem` was signed by the first of `issuerPem`. */
function issuedBy(leafPem: string, issuerPem: string): boolean {
  return new X509Certificate(leafPem).verify(new X509Certificate(issuerPem).publicKey);
}

/** The bundle a namespace's pods trust: the cluster CA they trusted before, then the bridge root (and extra CAs). */
export function caBundleFor(clusterCaPem: string, bridgeCaPem: string, extraCaPem = ''): string {
  const parts = [clusterCaPem, bridgeCaPem, extraCaPem].map((p) => p.trim()).filter(Boolean);
  return `${[...new Set(parts)].join('\n')}\n`;
}

export function caBundleConfigMap(namespace: string, bundle: string): object {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: CA_BUNDLE_CONFIGMAP, namespace, labels: MANAGED }, data: { 'ca.crt': bundle } };
}

export class NamespaceReconciler {
  constructor(private readonly deps: ReconcilerDeps) {}

  private get secretName(): string {
    return this.deps.sidecarTlsSecret ?? SIDECAR_TLS_SECRET;
  }

  async labelledNamespaces(): Promise<string[]> {
    const selector = encodeURIComponent(`${INJECT_LABEL}=${INJECT_LABEL_VALUE}`);
    const list = await this.deps.client.expect<{ items: Obj[] }>('GET', `/api/v1/namespaces?labelSelector=${selector}`, [200]);
    const excluded: readonly string[] = ALWAYS_EXCLUDED_NAMESPACES;
    return list.body.items.map((n) => n.metadata.name).filter((n) => !excluded.includes(n));
  }

  /** Ensures both objects in one namespace; returns false when kube-root-ca.crt is not published yet. */
  async reconcileNamespace(namespace: string): Promise<boolean> {
    const { client } = this.deps;
    const ns = encodeURIComponent(namespace);
    const root = await client.request<Obj>('GET', `/api/v1/namespaces/${ns}/configmaps/${KUBE_ROOT_CA_CONFIGMAP}`);
    const clusterCa = root.status === 200 ? root.body.data?.['ca.crt'] : undefined;
    if (!clusterCa) return false;
    const bundle = caBundleFor(clusterCa, bridgeRootPem(this.deps.issuers), this.deps.extraCaPem);

    await client.createOrReplace<Obj>(`/api/v1/namespaces/${ns}/configmaps`, CA_BUNDLE_CONFIGMAP, (current) =>
      current?.data?.['ca.crt'] === bundle ? undefined : caBundleConfigMap(namespace, bundle),
    );
    const issued = await client.createOrReplace<Obj>(`/api/v1/namespaces/${ns}/secrets`, this.secretName, async (current) => {
      if (current && !this.secretStale(current, bundle, namespace)) return undefined;
      // The client certificate names this namespace: the aggregator lets its pods speak for it alone.
      const files = await issueSidecarTlsFiles(this.deps.issuers, bundle, { namespace, validityDays: this.deps.sidecarCertDays ?? 90 });
      return secretManifest(this.secretName, namespace, { ...files }, MANAGED);
    });
    if (issued === 'created' || issued === 'replaced') this.deps.log.info({ namespace }, 'issued the sidecar TLS Secret');
    return true;
  }

  private secretStale(secret: Obj, bundle: string, namespace: string): boolean {
    const data = decodeSecretData(secret);
    if (data['ca.crt'] !== bundle || !data['tls.crt'] || !data['client.crt']) return true;
    try {
      // Secrets issued before certificates were per namespace are reissued.
      if (!describeCertificate(data['client.crt']).subject.split('\n').includes(`O=${SIDECAR_NAMESPACE_ORGANIZATION_PREFIX}${namespace}`)) return true;
      // Certificates of another issuer (the single bridge CA before ADR 0021, or a rotated intermediate) are replaced.
      if (!issuedBy(data['tls.crt'], this.deps.issuers.serving.certPem) || !issuedBy(data['client.crt'], this.deps.issuers.client.certPem)) return true;
      // Serving keys issued for the API server's names (before issue 21) are replaced by loopback-only ones.
      if (describeCertificate(data['tls.crt']).dnsNames.some((name) => !SIDECAR_DNS_NAMES.includes(name))) return true;
      return isDue(new Date(), certificateLifetime(data['tls.crt']));
    } catch {
      return true;
    }
  }

  /** Deletes what we made in namespaces that lost the label. */
  async cleanup(labelled: Set<string>): Promise<number> {
    const { client } = this.deps;
    const selector = encodeURIComponent(`${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`);
    let removed = 0;
    // By name too: the webhook's RBAC lets it list only these two names (manifests/source/rbac.yaml).
    for (const [resource, name] of [
      ['configmaps', CA_BUNDLE_CONFIGMAP],
      ['secrets', this.secretName],
    ] as const) {
      const byName = encodeURIComponent(`metadata.name=${name}`);
      const list = await client.expect<{ items: Obj[] }>('GET', `/api/v1/${resource}?labelSelector=${selector}&fieldSelector=${byName}`, [200]);
      for (const item of list.body.items) {
        const namespace = item.metadata.namespace ?? '';
        if (labelled.has(namespace) || (await this.labelledNow(namespace))) continue;
        await client.expect('DELETE', `/api/v1/namespaces/${encodeURIComponent(namespace)}/${resource}/${encodeURIComponent(item.metadata.name)}`, [200, 404]);
        removed++;
      }
    }
    return removed;
  }

  /**
   * Whether the namespace carries the label now: `labelled` was listed before, and a namespace labelled
   * since (its objects just made by reconcileLabelled or another replica) must keep them.
   */
  private async labelledNow(namespace: string): Promise<boolean> {
    const answer = await this.deps.client.request<Obj>('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}`);
    if (answer.status === 404) return false;
    if (answer.status !== 200) return true; // unsure: keep; the next pass decides
    const excluded: readonly string[] = ALWAYS_EXCLUDED_NAMESPACES;
    return answer.body.metadata.labels?.[INJECT_LABEL] === INJECT_LABEL_VALUE && !excluded.includes(namespace);
  }

  async reconcileAll(): Promise<{ namespaces: number; pending: number; removed: number }> {
    const labelled = await this.labelledNamespaces();
    let pending = 0;
    for (const namespace of labelled) {
      try {
        if (!(await this.reconcileNamespace(namespace))) pending++;
      } catch (err) {
        pending++;
        this.deps.log.warn({ namespace, err: errorMessage(err) }, 'namespace reconcile failed');
      }
    }
    const removed = await this.cleanup(new Set(labelled));
    this.deps.metrics?.reconciles.inc({ result: pending ? 'partial' : 'ok' });
    return { namespaces: labelled.length, pending, removed };
  }
}
