/**
 * Reads how to reach an API server from a kubeconfig (client-go's format and search order) or from the
 * pod's ServiceAccount, without @kubernetes/client-node: its KubeConfig imports the whole generated
 * API, about 30 MB of heap in every process that loads it, and in the aggregator that heap made the
 * mark-compact pauses that dominated its latency tail (docs/adr/0012). Credentials only client-node
 * implements (exec plugins, auth providers, basic auth) are handed to it, imported on first use.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';

export interface KubeconfigAccess {
  /** The API server's URL, without a trailing slash. */
  server: string;
  /** Sets the CA, client certificate and Authorization for one request; token files are re-read as they rotate. */
  applyToHTTPSOptions(options: RequestOptions): Promise<void>;
}

/** Where a pod's ServiceAccount is mounted (under a test's root prefix). */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Like client-go and client-node: a token file older than this is read again (kubelet rotates it). */
export const TOKEN_FILE_MAX_AGE_MS = 60_000;

type Fields = Record<string, unknown>;
interface Named {
  name: string;
  [key: string]: unknown;
}
interface KubeconfigDocument {
  'current-context'?: string;
  clusters: Named[];
  users: Named[];
  contexts: Named[];
}

/** The credentials of a user entry that only client-node implements. */
const DELEGATED_USER_FIELDS = ['exec', 'auth-provider', 'username', 'password'];

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/** A file named in a kubeconfig, relative to that kubeconfig's directory (as client-go resolves it). */
function resolvePath(value: unknown, base: string): string | undefined {
  const path = text(value);
  return path === undefined ? undefined : isAbsolute(path) ? path : resolve(base, path);
}

const PATH_FIELDS: Record<'cluster' | 'user', string[]> = {
  cluster: ['certificate-authority'],
  user: ['client-certificate', 'client-key', 'tokenFile'],
};

/** One file, with its relative paths made absolute so that entries of several files can be merged. */
function readDocument(file: string): KubeconfigDocument {
  const raw = (parse(readFileSync(file, 'utf8')) ?? {}) as Fields;
  const base = dirname(resolve(file));
  const entries = (key: 'clusters' | 'users' | 'contexts', inner: 'cluster' | 'user' | 'context'): Named[] =>
    (Array.isArray(raw[key]) ? (raw[key] as Fields[]) : []).flatMap((entry) => {
      const name = text(entry.name);
      if (!name) return [];
      const fields = { ...((entry[inner] as Fields | undefined) ?? {}) };
      if (inner !== 'context') for (const field of PATH_FIELDS[inner]) if (fields[field] !== undefined) fields[field] = resolvePath(fields[field], base);
      return [{ name, ...fields }];
    });
  return {
    'current-context': text(raw['current-context']),
    clusters: entries('clusters', 'cluster'),
    users: entries('users', 'user'),
    contexts: entries('contexts', 'context'),
  };
}

/** client-go's merge of KUBECONFIG's files: the first file that names an entry (or the current context) wins. */
function merge(documents: KubeconfigDocument[]): KubeconfigDocument {
  const firstByName = (key: 'clusters' | 'users' | 'contexts') => {
    const seen = new Map<string, Named>();
    for (const doc of documents) for (const entry of doc[key]) if (!seen.has(entry.name)) seen.set(entry.name, entry);
    return [...seen.values()];
  };
  return {
    'current-context': documents.find((d) => d['current-context'])?.['current-context'],
    clusters: firstByName('clusters'),
    users: firstByName('users'),
    contexts: firstByName('contexts'),
  };
}

const fileOrData = (entry: Named, field: string): Buffer | undefined => {
  const data = text(entry[`${field}-data`]);
  if (data) return Buffer.from(data, 'base64');
  const file = text(entry[field]);
  return file ? readFileSync(file) : undefined;
};

/** A token file, read again once the copy in hand is older than TOKEN_FILE_MAX_AGE_MS. */
function tokenFileReader(file: string): () => string {
  let token = '';
  let readAt = -Infinity;
  return () => {
    if (Date.now() - readAt >= TOKEN_FILE_MAX_AGE_MS) {
      token = readFileSync(file, 'utf8').trim();
      readAt = Date.now();
    }
    return token;
  };
}

function setAuthorization(options: RequestOptions, token: string): void {
  options.headers = { ...(options.headers as Record<string, string> | undefined), authorization: `Bearer ${token}` };
}

/** The current context's cluster and user, read by this module or, for client-node's credentials, by it. */
function accessOf(doc: KubeconfigDocument): KubeconfigAccess {
  const contextName = doc['current-context'];
  if (!contextName) throw new Error('it names no current-context');
  const context = doc.contexts.find((c) => c.name === contextName);
  if (!context) throw new Error(`its current-context ${contextName} is not among its contexts`);
  const cluster = doc.clusters.find((c) => c.name === context.cluster);
  const server = text(cluster?.server);
  if (!cluster || !server) throw new Error(`the cluster of context ${contextName} has no server`);
  const user = doc.users.find((u) => u.name === context.user) ?? { name: '' };
  const tls: RequestOptions = {};
  const ca = fileOrData(cluster, 'certificate-authority');
  if (ca) tls.ca = ca;
  if (cluster['insecure-skip-tls-verify'] === true) tls.rejectUnauthorized = false;
  if (text(cluster['tls-server-name'])) tls.servername = text(cluster['tls-server-name']);

  if (DELEGATED_USER_FIELDS.some((field) => user[field] !== undefined)) return { server: server.replace(/\/$/, ''), applyToHTTPSOptions: delegated(doc) };
  const cert = fileOrData(user, 'client-certificate');
  const key = fileOrData(user, 'client-key');
  if (cert && key) Object.assign(tls, { cert, key });
  const token = text(user.token);
  const tokenFile = text(user.tokenFile);
  const readToken = token ? () => token : tokenFile ? tokenFileReader(tokenFile) : undefined;
  return {
    server: server.replace(/\/$/, ''),
    async applyToHTTPSOptions(options) {
      Object.assign(options, tls);
      if (readToken) setAuthorization(options, readToken());
    },
  };
}

/** The same document handed to client-node, imported only now (it weighs ~30 MB of heap). */
function delegated(doc: KubeconfigDocument): (options: RequestOptions) => Promise<void> {
  let loaded: Promise<{ applyToHTTPSOptions(options: RequestOptions): Promise<void> }> | undefined;
  return async (options) => {
    loaded ??= import('@kubernetes/client-node').then(({ KubeConfig }) => {
      const kc = new KubeConfig();
      const unwrap = (inner: string) => (entry: Named) => {
        const { name, ...fields } = entry;
        return { name, [inner]: fields };
      };
      kc.loadFromString(
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          'current-context': doc['current-context'],
          clusters: doc.clusters.map(unwrap('cluster')),
          users: doc.users.map(unwrap('user')),
          contexts: doc.contexts.map(unwrap('context')),
        }),
      );
      return kc;
    });
    await (await loaded).applyToHTTPSOptions(options);
  };
}

/** The pod's ServiceAccount: the API server from the environment kubelet sets, its token re-read as it rotates. */
export function inClusterAccess(root = ''): KubeconfigAccess {
  const { KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: port } = process.env;
  if (!host || !port) throw new Error('KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not in a pod?)');
  const [tokenFile, caFile] = ['token', 'ca.crt'].map((name) => join(root, SERVICE_ACCOUNT_DIR, name)) as [string, string];
  for (const file of [tokenFile, caFile]) if (!existsSync(file)) throw new Error(`${file} does not exist (no service-account token mounted?)`);
  const ca = readFileSync(caFile);
  const readToken = tokenFileReader(tokenFile);
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    async applyToHTTPSOptions(options) {
      options.ca = ca;
      setAuthorization(options, readToken());
    },
  };
}

/** A kubeconfig file's current context. */
export function kubeconfigFileAccess(file: string): KubeconfigAccess {
  return accessOf(readDocument(file));
}

/** client-go's search without a path: the files in KUBECONFIG (merged), else ~/.kube/config, else the pod's ServiceAccount. */
export function defaultAccess(): KubeconfigAccess {
  const files = (process.env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  if (files.length > 0) return accessOf(merge(files.filter((file) => existsSync(file)).map(readDocument)));
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home)) return kubeconfigFileAccess(home);
  return inClusterAccess();
}
