/**
 * A namespace of preflight's own in the destination, created on first use and deleted afterwards
 * whatever happened, so a check's probes never touch a namespace that holds real objects.
 */
import { randomBytes } from 'node:crypto';
import { MANAGED_BY_LABEL, PREFLIGHT_LABEL } from '../../lib/names.js';
import type { KubeApi } from './clusters.js';

export class ScratchNamespace {
  readonly name: string;
  /** Set by the first use, so checks running in parallel create the namespace once. */
  private creating: Promise<unknown> | undefined;

  constructor(
    private readonly client: KubeApi,
    purpose: string,
  ) {
    this.name = `bridge-preflight-${purpose}-${randomBytes(3).toString('hex')}`;
  }

  /** The namespace's name, once it exists. */
  async use(): Promise<string> {
    const body = { metadata: { name: this.name, labels: { [MANAGED_BY_LABEL]: 'cluster-bridge', [PREFLIGHT_LABEL]: 'true' } } };
    this.creating ??= this.client.expect('POST', '/api/v1/namespaces', [201], body);
    await this.creating;
    return this.name;
  }

  /** Starts the deletion (the namespace controller finishes it); a namespace never asked for is left alone. */
  async delete(): Promise<void> {
    if (!this.creating) return;
    // A create that failed may still have happened (a timeout after the write): 404 is fine.
    await this.creating.catch(() => undefined);
    await this.client.expect('DELETE', `/api/v1/namespaces/${this.name}`, [200, 202, 404]);
  }
}

/** Runs `body` with a scratch namespace and deletes the namespace afterwards, also when `body` throws. */
export async function withScratchNamespace<T>(client: KubeApi, purpose: string, body: (scratch: ScratchNamespace) => Promise<T>): Promise<T> {
  const scratch = new ScratchNamespace(client, purpose);
  let result: T;
  try {
    result = await body(scratch);
  } catch (err) {
    await scratch.delete().catch(() => undefined); // the check's own error is the one worth reporting
    throw err;
  }
  await scratch.delete();
  return result;
}
