/**
 * The one certificate source of every server (webhook, sidecar, aggregator, synchronizer; issue 23):
 * TLS files read and checked, and kept current. A source says how to load its material and when two
 * loads are the same; one loop looks again on a timer (and early when a watched folder changes, as a
 * Secret volume does when the kubelet swaps its symlink) and hands over only material that loaded and
 * differs, after putting it into the server's secure context: new connections get it, open ones keep
 * theirs. A load that fails keeps the old material in use and is reported, never thrown.
 */
import { existsSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { dirname, join } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { BridgeError, errorMessage } from '../errors.js';

export interface CertSource<T> {
  /** The material as it is now; throws when it cannot be read or does not check out. */
  load(): T | Promise<T>;
  /** True when two loads hold the same material. */
  same(a: T, b: T): boolean;
  /** A folder whose changes should trigger an early look. */
  watchDir?: string;
}

export interface ReloadHooks<T> {
  onChange(next: T): void;
  onError(err: unknown): void;
}

export interface ReloadLoop {
  close(): void;
}

/** Changes inside one folder come in bursts (several files, a symlink swap): look once after it settles. */
const SETTLE_MS = 100;

/** Mounted certificate files are also watched; this poll is the safety net. */
export const TLS_CHECK_MS = 5000;

export function reloadOnChange<T>(source: CertSource<T>, current: T, hooks: ReloadHooks<T>, pollMs: number): ReloadLoop {
  let last = current;
  let running = false;
  let again = false;
  let settle: NodeJS.Timeout | undefined;
  const check = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      const next = await source.load();
      if (!source.same(next, last)) {
        last = next;
        hooks.onChange(next);
      }
    } catch (err) {
      hooks.onError(err);
    } finally {
      running = false;
      if (again) {
        again = false;
        void check();
      }
    }
  };
  const poll = setInterval(() => void check(), pollMs);
  poll.unref();
  let watcher: FSWatcher | undefined;
  if (source.watchDir) {
    try {
      watcher = watch(source.watchDir, { persistent: false }, () => {
        clearTimeout(settle);
        settle = setTimeout(() => void check(), SETTLE_MS);
      });
      watcher.on('error', () => watcher?.close());
    } catch {
      watcher = undefined; // the poll still catches changes
    }
  }
  return {
    close() {
      clearInterval(poll);
      clearTimeout(settle);
      watcher?.close();
    },
  };
}

/** The files of a TLS folder as a Secret mounts them (`bridgectl certs`, the webhook's reconciler). */
export const TLS_FILES = { cert: 'tls.crt', key: 'tls.key', ca: 'ca.crt', clientCert: 'client.crt', clientKey: 'client.key' } as const;

export interface TlsFilePaths {
  certFile: string;
  keyFile: string;
  /** Trust: verifies the peers' client certificates (servers) or the upstream (clients). */
  caFile?: string;
  clientCertFile?: string;
  clientKeyFile?: string;
}

export interface TlsMaterial {
  cert: string;
  key: string;
  ca?: string;
  client?: { cert: string; key: string };
}

/** Every file of a TLS folder; readTlsFiles decides which must exist. */
export function tlsDirPaths(dir: string): Required<TlsFilePaths> {
  return {
    certFile: join(dir, TLS_FILES.cert),
    keyFile: join(dir, TLS_FILES.key),
    caFile: join(dir, TLS_FILES.ca),
    clientCertFile: join(dir, TLS_FILES.clientCert),
    clientKeyFile: join(dir, TLS_FILES.clientKey),
  };
}

export interface TlsReadOptions {
  /** True: a missing CA or client pair is an error; false (the sidecar's folder): they are optional. */
  required: boolean;
}

function readIf(file: string | undefined, required: boolean): string | undefined {
  if (!file || (!required && !existsSync(file))) return undefined;
  return readFileSync(file, 'utf8');
}

/** Reads and checks the files: each pair must match and the CA must parse (createSecureContext throws otherwise). */
export function readTlsFiles(paths: TlsFilePaths, options: TlsReadOptions = { required: true }): TlsMaterial {
  try {
    const tls: TlsMaterial = { cert: readFileSync(paths.certFile, 'utf8'), key: readFileSync(paths.keyFile, 'utf8') };
    const ca = readIf(paths.caFile, options.required);
    const clientCert = readIf(paths.clientCertFile, options.required);
    const clientKey = readIf(paths.clientKeyFile, options.required);
    if ((clientCert === undefined) !== (clientKey === undefined))
      throw new Error(`${TLS_FILES.clientCert} and ${TLS_FILES.clientKey} must both be present or both absent`);
    if (ca !== undefined && !ca.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`${paths.caFile} holds no certificate`);
    createSecureContext({ cert: tls.cert, key: tls.key, ...(ca !== undefined ? { ca } : {}) });
    if (ca !== undefined) tls.ca = ca;
    if (clientCert !== undefined && clientKey !== undefined) {
      createSecureContext({ cert: clientCert, key: clientKey });
      tls.client = { cert: clientCert, key: clientKey };
    }
    return tls;
  } catch (err) {
    throw new BridgeError('BRIDGE_ERR_CERT', `cannot load the TLS files in ${dirname(paths.certFile)}: ${errorMessage(err)}`, {
      fix: `mount a Secret with ${TLS_FILES.cert} and ${TLS_FILES.key} (and ${TLS_FILES.ca}, ${TLS_FILES.clientCert}, ${TLS_FILES.clientKey} where used); see \`bridgectl certs\``,
      cause: err,
    });
  }
}

export function sameTls(a: TlsMaterial, b: TlsMaterial): boolean {
  return a.cert === b.cert && a.key === b.key && a.ca === b.ca && a.client?.cert === b.client?.cert && a.client?.key === b.client?.key;
}

export function tlsFileSource(paths: TlsFilePaths, options: TlsReadOptions = { required: true }): CertSource<TlsMaterial> {
  return { load: () => readTlsFiles(paths, options), same: sameTls, watchDir: dirname(paths.certFile) };
}

/** One CA bundle file (the sidecar's local API server CA); it must hold a certificate and parse. */
export function caFileSource(file: string): CertSource<string> {
  return {
    load() {
      const pem = readFileSync(file, 'utf8');
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`${file} holds no certificate`);
      createSecureContext({ ca: pem });
      return pem;
    },
    same: (a, b) => a === b,
    watchDir: dirname(file),
  };
}

/** The options of a server's secure context (requestCert and rejectUnauthorized stay the server's own). */
export function serverContext(tls: Pick<TlsMaterial, 'cert' | 'key' | 'ca'>): SecureContextOptions & { minVersion: 'TLSv1.2' } {
  return { cert: tls.cert, key: tls.key, ...(tls.ca !== undefined ? { ca: tls.ca } : {}), minVersion: 'TLSv1.2' };
}

/** A TLS server (https, tls): what the loop swaps the certificate in. */
export interface SecureServer {
  setSecureContext(options: SecureContextOptions): void;
}

/**
 * Serves new material on `server` as the source yields it, then tells `hooks.onChange` (a client pair
 * to swap, metrics, a log line); a load that fails keeps the current material and goes to `hooks.onError`.
 */
export function reloadServerTls<T>(
  server: SecureServer,
  source: CertSource<T>,
  current: T,
  context: (material: T) => SecureContextOptions,
  hooks: ReloadHooks<T>,
  pollMs = TLS_CHECK_MS,
): ReloadLoop {
  return reloadOnChange(
    source,
    current,
    {
      onChange(next) {
        server.setSecureContext(context(next));
        hooks.onChange(next);
      },
      onError: hooks.onError,
    },
    pollMs,
  );
}

/** Hooks that only log, for servers with nothing else to do on a change (a pino-style logger). */
export function loggedReload(
  log: { info(o: object, m: string): void; warn(o: object, m: string): void },
  what: string,
  onChange?: (next: TlsMaterial) => void,
): ReloadHooks<TlsMaterial> {
  return {
    onChange(next) {
      onChange?.(next);
      log.info({ what }, 'TLS files changed: serving the new certificate');
    },
    onError: (err) => log.warn({ what, err: errorMessage(err) }, 'cannot load the TLS files; serving the current ones'),
  };
}
