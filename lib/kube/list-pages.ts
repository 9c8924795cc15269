/**
 * A consistent list in pages (`limit` / `continue`), as client-go's pager does, so a large collection
 * never has to come in one response: every page is served from the first page's snapshot, whose
 * resourceVersion is the list's. Shared by the shard mirrors and lib/kube/list-watch.ts.
 */
import { kubeApiError, type KubeRestClient } from './rest-client.js';

export const LIST_PAGE_SIZE = 500;

interface Page<T> {
  items?: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

/** `path`: the collection, with or without a query (a label selector). Any answer but 200 throws BRIDGE_ERR_KUBE_API. */
export async function listAllPages<T>(
  client: Pick<KubeRestClient, 'request'>,
  path: string,
  options: { limit?: number; headers?: Record<string, string> } = {},
): Promise<{ items: T[]; resourceVersion: string }> {
  const [collection, query = ''] = path.split('?') as [string, string?];
  const items: T[] = [];
  let token = '';
  let resourceVersion = '';
  do {
    const params = new URLSearchParams(query);
    params.set('limit', String(options.limit ?? LIST_PAGE_SIZE));
    if (token) params.set('continue', token);
    const pagePath = `${collection}?${params}`;
    const page = await client.request<Page<T>>('GET', pagePath, undefined, { headers: options.headers });
    if (page.status !== 200) throw kubeApiError('GET', pagePath, page);
    items.push(...(page.body.items ?? []));
    resourceVersion ||= page.body.metadata?.resourceVersion ?? '0';
    token = page.body.metadata?.continue ?? '';
  } while (token);
  return { items, resourceVersion };
}
