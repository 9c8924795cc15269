/**
 * Which namespaces already hold what an injected pod mounts: the CA bundle ConfigMap and the sidecar
 * TLS Secret. A pod injected before the reconciler made them waits in ContainerCreating until they
 * exist; the webhook injects it all the same and says so (reason `injected-namespace-pending`), since
 * left uninjected it would bypass the bridge for its whole life. Every replica keeps this view by list
 * and watch of object metadata only, so no Secret's data ever reaches the webhook.
 */
import type { KubeRestClient } from '../lib/kube/rest-client.js';
import { listAndWatch } from '../lib/kube/list-watch.js';
import type { Logger } from '../lib/process/logger.js';
import { CA_BUNDLE_CONFIGMAP, SIDECAR_TLS_SECRET } from '../lib/names.js';
import type { InjectionMode } from './injection-config.js';

const METADATA = (kind: 'PartialObjectMetadata' | 'PartialObjectMetadataList') => ({ accept: `application/json;as=${kind};g=meta.k8s.io;v=v1` });

interface Metadata {
  metadata?: { namespace?: string };
}

class NamespacesHolding {
  readonly namespaces = new Set<string>();
  synced = false;
  private readonly watch: { stop(): void };

  constructor(client: KubeRestClient, resource: 'configmaps' | 'secrets', name: string, log: Logger) {
    this.watch = listAndWatch<Metadata>(
      client,
      `/api/v1/${resource}?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`,
      {
        onList: (items) => {
          this.namespaces.clear();
          for (const item of items) if (item.metadata?.namespace) this.namespaces.add(item.metadata.namespace);
          this.synced = true;
        },
        onEvent: (type, object) => {
          const namespace = object.metadata?.namespace;
          if (!namespace) return;
          if (type === 'DELETED') this.namespaces.delete(namespace);
          else this.namespaces.add(namespace);
        },
      },
      { log, listHeaders: METADATA('PartialObjectMetadataList'), watchHeaders: METADATA('PartialObjectMetadata') },
    );
  }

  stop(): void {
    this.watch.stop();
  }
}

export class NamespaceReadiness {
  private readonly caBundles: NamespacesHolding;
  private readonly secrets: NamespacesHolding;

  constructor(client: KubeRestClient, log: Logger, secretName = SIDECAR_TLS_SECRET) {
    this.caBundles = new NamespacesHolding(client, 'configmaps', CA_BUNDLE_CONFIGMAP, log);
    this.secrets = new NamespacesHolding(client, 'secrets', secretName, log);
  }

  /**
   * What the mode mounts exists: the CA bundle always, the TLS Secret for the sidecar. Before the first
   * lists arrive nothing is known, and pods are injected as before.
   */
  isReady(namespace: string, mode: InjectionMode): boolean {
    if (!this.caBundles.synced || !this.secrets.synced) return true;
    return this.caBundles.namespaces.has(namespace) && (mode === 'dns' || this.secrets.namespaces.has(namespace));
  }

  stop(): void {
    this.caBundles.stop();
    this.secrets.stop();
  }
}
