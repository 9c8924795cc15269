/**
 * Keeps the synchronizer's token for the destination current, so no token that never expires is
 * needed (issue 21: a `kubernetes.io/service-account-token` Secret in the manifests). The kubeconfig
 * names the token by `tokenFile`, a key of a Secret on the source mounted in the pod; the leader asks the
 * destination for a new token of its own ServiceAccount (TokenRequest, which its Role allows for that
 * one name) halfway through the current one's life, and writes it into that Secret. The kubelet updates
 * the mounted file and the REST client reads it again within a minute (lib/kube/kubeconfig-reader.ts).
 */
import { errorMessage } from '../lib/errors.js';
import type { KubeRestClient } from '../lib/kube/rest-client.js';
import type { Logger } from '../lib/process/logger.js';

export interface DestinationTokenOptions {
  destination: KubeRestClient;
  source: KubeRestClient;
  /** The Secret on the source whose key `token` the kubeconfig's tokenFile reads. */
  secret: { namespace: string; name: string };
  expirationSeconds: number;
  isLeader: () => boolean;
  log: Logger;
}

const RETRY_MS = 60_000;
const SA_PREFIX = 'system:serviceaccount:';

/** The ServiceAccount a username names, or undefined for any other user. */
export function serviceAccountOf(username: string): { namespace: string; name: string } | undefined {
  if (!username.startsWith(SA_PREFIX)) return undefined;
  const [namespace, name, ...rest] = username.slice(SA_PREFIX.length).split(':');
  return namespace && name && rest.length === 0 ? { namespace, name } : undefined;
}

export class DestinationToken {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: DestinationTokenOptions) {}

  /** Asks for a new token and stores it; returns when the new one expires. */
  async renewOnce(): Promise<Date> {
    const { destination, source, secret, expirationSeconds } = this.options;
    const review = await destination.expect<{ status?: { userInfo?: { username?: string } } }>(
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      [201, 200],
      { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    );
    const username = review.body.status?.userInfo?.username ?? '';
    const account = serviceAccountOf(username);
    if (!account) throw new Error(`the destination identity ${username} is not a ServiceAccount: its token cannot be renewed by TokenRequest`);
    const path = `/api/v1/namespaces/${encodeURIComponent(account.namespace)}/serviceaccounts/${encodeURIComponent(account.name)}/token`;
    const minted = await destination.expect<{ status: { token: string; expirationTimestamp: string } }>('POST', path, [201, 200], {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds },
    });
    const secretPath = `/api/v1/namespaces/${encodeURIComponent(secret.namespace)}/secrets/${encodeURIComponent(secret.name)}`;
    await source.expect('PATCH', secretPath, [200], { data: { token: Buffer.from(minted.body.status.token).toString('base64') } }, { patchType: 'merge' });
    return new Date(minted.body.status.expirationTimestamp);
  }

  start(): void {
    const loop = async () => {
      if (this.stopped) return;
      let nextMs = RETRY_MS;
      if (this.options.isLeader()) {
        try {
          const expires = await this.renewOnce();
          nextMs = Math.max(RETRY_MS, (expires.getTime() - Date.now()) / 2);
          this.options.log.info({ expires: expires.toISOString() }, 'destination token renewed');
        } catch (err) {
          this.options.log.warn({ err: errorMessage(err) }, 'cannot renew the destination token; trying again in a minute');
        }
      }
      if (!this.stopped) this.timer = setTimeout(() => void loop(), nextMs);
    };
    void loop();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
