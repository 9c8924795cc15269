/**
 * Self-provisioned webhook TLS (vault-k8s style): a CA and a serving certificate kept in a Secret (so
 * every replica serves the same pair), the CA bundle patched into the MutatingWebhookConfiguration,
 * renewal before expiry, and the previous CA kept in the bundle during a CA rotation. Writes use the
 * Secret's resourceVersion, so two replicas renewing at once cannot both win.
 */
import { BridgeError } from '../lib/errors.js';
import { sameTls, type CertSource, type TlsMaterial } from '../lib/tls/certificate-source.js';
import type { KubeRestClient } from '../lib/kube/rest-client.js';
import { certificateLifetime, generateCa, splitPemBundle, type CertificateAndKey } from '../lib/tls/pki.js';
import { issueWebhookServingCert } from './bridge-certs.js';
import { decodeSecretData, secretManifest } from './cert-files.js';
import { mergeCaBundle, renewalAction } from './renewal.js';

export interface SelfProvisionOptions {
  namespace: string;
  secretName: string;
  /** The MutatingWebhookConfiguration whose webhooks get the caBundle; none leaves registration to someone else. */
  webhookConfigName?: string;
  serviceName: string;
  serviceNamespace: string;
  extraDnsNames: string[];
  ipAddresses: string[];
  leafValiditySeconds: number;
  renewBeforeSeconds?: number;
  caValidityDays: number;
  now?: () => Date;
}

export interface ServingMaterial {
  serving: CertificateAndKey;
  caBundlePem: string;
  leafNotAfter: Date;
}

export type SyncResult = 'created' | 'loaded' | 'renewed-leaf' | 'rotated-ca';

/** The serving pair as the reload loop sees it; `rotatedCa` when a new CA (and caBundle) came with it. */
export type ProvisionedTls = TlsMaterial & { rotatedCa?: boolean };

interface SecretObject {
  metadata: { resourceVersion?: string };
  data?: Record<string, string>;
}

export class WebhookCertProvisioner {
  private readonly now: () => Date;

  constructor(
    private readonly client: KubeRestClient,
    private readonly options: SelfProvisionOptions,
  ) {
    this.now = options.now ?? (() => new Date());
  }

  private get secretPath(): string {
    return `/api/v1/namespaces/${encodeURIComponent(this.options.namespace)}/secrets/${encodeURIComponent(this.options.secretName)}`;
  }

  private issueLeaf(ca: CertificateAndKey): Promise<CertificateAndKey> {
    // A minute of slack for clock skew, but never before the CA itself is valid.
    const notBefore = new Date(Math.max(this.now().getTime() - 60_000, certificateLifetime(ca.certPem).notBefore.getTime()));
    return issueWebhookServingCert(ca, {
      serviceName: this.options.serviceName,
      namespace: this.options.serviceNamespace,
      extraDnsNames: this.options.extraDnsNames,
      ipAddresses: this.options.ipAddresses,
      notBefore,
      notAfter: new Date(this.now().getTime() + this.options.leafValiditySeconds * 1000),
    });
  }

  private async newCa(): Promise<CertificateAndKey> {
    return generateCa('cluster-bridge-webhook-ca', { validityDays: this.options.caValidityDays, notBefore: new Date(this.now().getTime() - 60_000) });
  }

  private secretBody(ca: CertificateAndKey, leaf: CertificateAndKey, bundle: string[], resourceVersion?: string): object {
    const secret = secretManifest(this.options.secretName, this.options.namespace, {
      'tls.crt': leaf.certPem,
      'tls.key': leaf.keyPem,
      'ca.crt': ca.certPem,
      'ca.key': ca.keyPem,
      'ca-bundle.crt': bundle.join(''),
    }) as { metadata: Record<string, unknown> };
    if (resourceVersion) secret.metadata.resourceVersion = resourceVersion;
    return secret;
  }

  /** Puts the bundle into every webhook of the configuration, when it is not there already. */
  async patchCaBundle(bundlePem: string): Promise<void> {
    if (!this.options.webhookConfigName) return;
    const path = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${encodeURIComponent(this.options.webhookConfigName)}`;
    const current = await this.client.expect<{ webhooks?: { clientConfig?: { caBundle?: string } }[] }>('GET', path, [200]);
    const encoded = Buffer.from(bundlePem).toString('base64');
    const ops = (current.body.webhooks ?? [])
      .map((w, i) => ({ w, i }))
      .filter(({ w }) => w.clientConfig?.caBundle !== encoded)
      .map(({ i }) => ({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: encoded }));
    if (ops.length > 0) await this.client.expect('PATCH', path, [200], ops, { patchType: 'json' });
  }

  /** Reads the Secret and creates, renews or rotates as due; returns what to serve. Retries write conflicts. */
  async sync(): Promise<{ material: ServingMaterial; result: SyncResult }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const outcome = await this.syncOnce();
      if (outcome) return outcome;
    }
    throw new BridgeError('BRIDGE_ERR_CERT', `cannot write Secret ${this.options.namespace}/${this.options.secretName}: repeated conflicts`, {
      fix: 'check that only cluster-bridge webhooks write this Secret',
    });
  }

  private async syncOnce(): Promise<{ material: ServingMaterial; result: SyncResult } | undefined> {
    const existing = await this.client.request<SecretObject>('GET', this.secretPath);
    if (existing.status === 404) {
      const ca = await this.newCa();
      const leaf = await this.issueLeaf(ca);
      await this.patchCaBundle(ca.certPem);
      const created = await this.client.request(
        'POST',
        `/api/v1/namespaces/${encodeURIComponent(this.options.namespace)}/secrets`,
        this.secretBody(ca, leaf, [ca.certPem]),
      );
      if (created.status === 409) return undefined; // another replica won; read theirs
      if (created.status !== 201)
        throw new BridgeError('BRIDGE_ERR_KUBE_API', `creating the webhook TLS Secret: HTTP ${created.status}`, {
          fix: 'check RBAC for secrets in the system namespace',
        });
      return { material: this.material(leaf, [ca.certPem]), result: 'created' };
    }
    if (existing.status !== 200)
      throw new BridgeError('BRIDGE_ERR_KUBE_API', `reading the webhook TLS Secret: HTTP ${existing.status}`, {
        fix: 'check RBAC for secrets in the system namespace',
      });
    const data = decodeSecretData(existing.body);
    const ca = { certPem: data['ca.crt'] ?? '', keyPem: data['ca.key'] ?? '' };
    const leaf = { certPem: data['tls.crt'] ?? '', keyPem: data['tls.key'] ?? '' };
    const bundle = splitPemBundle(data['ca-bundle.crt'] ?? ca.certPem);
    let action;
    try {
      action = renewalAction(
        this.now(),
        certificateLifetime(ca.certPem),
        certificateLifetime(leaf.certPem),
        this.options.renewBeforeSeconds === undefined ? undefined : this.options.renewBeforeSeconds * 1000,
      );
    } catch {
      action = 'rotate-ca' as const; // unreadable contents: start over, keeping nothing we cannot parse
    }
    const rv = existing.body.metadata.resourceVersion;
    if (action === 'none') {
      await this.patchCaBundle(bundle.join(''));
      return { material: this.material(leaf, bundle), result: 'loaded' };
    }
    let nextCa = ca;
    let nextBundle = bundle;
    if (action === 'rotate-ca') {
      nextCa = await this.newCa();
      const previous = bundle.filter((pem) => {
        try {
          return certificateLifetime(pem).notAfter > this.now();
        } catch {
          return false;
        }
      });
      nextBundle = mergeCaBundle(nextCa.certPem, previous, this.now(), (pem) => certificateLifetime(pem).notAfter);
    }
    const nextLeaf = await this.issueLeaf(nextCa);
    // Trust first: the API server must accept the new CA before any replica presents a leaf it signed.
    await this.patchCaBundle(nextBundle.join(''));
    const written = await this.client.request('PUT', this.secretPath, this.secretBody(nextCa, nextLeaf, nextBundle, rv));
    if (written.status === 409) return undefined;
    if (written.status !== 200)
      throw new BridgeError('BRIDGE_ERR_KUBE_API', `updating the webhook TLS Secret: HTTP ${written.status}`, { fix: 'check RBAC for secrets' });
    return { material: this.material(nextLeaf, nextBundle), result: action === 'rotate-ca' ? 'rotated-ca' : 'renewed-leaf' };
  }

  /** A certificate source for the shared reload loop: each load renews or rotates what is due, then returns what the Secret holds. */
  source(): CertSource<ProvisionedTls> {
    return {
      load: async () => {
        const { material, result } = await this.sync();
        return { cert: material.serving.certPem, key: material.serving.keyPem, rotatedCa: result === 'rotated-ca' };
      },
      same: sameTls,
    };
  }

  private material(leaf: CertificateAndKey, bundle: string[]): ServingMaterial {
    return { serving: leaf, caBundlePem: bundle.join(''), leafNotAfter: certificateLifetime(leaf.certPem).notAfter };
  }
}
