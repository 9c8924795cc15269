/**
 * The TLS files of a server component (aggregator, synchronizer: BRIDGE_TLS_DIR), read, checked and
 * kept current: the serving pair and the CA that verifies callers, plus an optional client pair. The
 * files are re-read when their folder changes (a Secret volume's symlink swap) and on a slow poll
 * (lib/cert-reload.ts), so a renewed certificate is served without a restart (issue 21: both read
 * them once).
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Server } from 'node:https';
import { createSecureContext } from 'node:tls';
import { reloadOnChange, type CertSource, type ReloadLoop } from './cert-reload.js';
import { BridgeError, errorMessage } from './errors.js';
import type { Logger } from './logger.js';

export interface ComponentTlsPaths {
  certFile: string;
  keyFile: string;
  caFile: string;
  clientCertFile?: string;
  clientKeyFile?: string;
}

export interface ComponentTls {
  cert: string;
  key: string;
  ca: string;
  client?: { cert: string; key: string };
}

/** Reads the files; each pair must match and the CA must parse (createSecureContext throws otherwise). */
export function readComponentTls(paths: ComponentTlsPaths): ComponentTls {
  try {
    const tls: ComponentTls = { cert: readFileSync(paths.certFile, 'utf8'), key: readFileSync(paths.keyFile, 'utf8'), ca: readFileSync(paths.caFile, 'utf8') };
    createSecureContext({ cert: tls.cert, key: tls.key, ca: tls.ca });
    if (paths.clientCertFile && paths.clientKeyFile) {
      tls.client = { cert: readFileSync(paths.clientCertFile, 'utf8'), key: readFileSync(paths.clientKeyFile, 'utf8') };
      createSecureContext({ cert: tls.client.cert, key: tls.client.key });
    }
    return tls;
  } catch (err) {
    throw new BridgeError('BRIDGE_ERR_CERT', `cannot load the TLS files in ${dirname(paths.certFile)}: ${errorMessage(err)}`, { cause: err });
  }
}

const sameTls = (a: ComponentTls, b: ComponentTls) =>
  a.cert === b.cert && a.key === b.key && a.ca === b.ca && a.client?.cert === b.client?.cert && a.client?.key === b.client?.key;

export function componentTlsSource(paths: ComponentTlsPaths): CertSource<ComponentTls> {
  return { load: () => readComponentTls(paths), same: sameTls, watchDir: dirname(paths.certFile) };
}

/** The options of a server's secure context (requestCert and rejectUnauthorized stay the server's own). */
export function serverContext(tls: ComponentTls): { cert: string; key: string; ca: string; minVersion: 'TLSv1.2' } {
  return { cert: tls.cert, key: tls.key, ca: tls.ca, minVersion: 'TLSv1.2' };
}

/** Mounted certificate files are also watched; this poll is the safety net. */
export const TLS_CHECK_MS = 5000;

/**
 * Serves new files on `server` as they appear (new connections get them; open ones keep theirs) and
 * tells `onChange` (a client pair to swap); a load that fails keeps the current files and is logged.
 */
export function reloadServerTls(
  server: Server,
  paths: ComponentTlsPaths,
  current: ComponentTls,
  log: Logger,
  onChange?: (next: ComponentTls) => void,
  pollMs = TLS_CHECK_MS,
): ReloadLoop {
  return reloadOnChange(
    componentTlsSource(paths),
    current,
    {
      onChange(next) {
        server.setSecureContext(serverContext(next));
        onChange?.(next);
        log.info({ dir: dirname(paths.certFile) }, 'TLS files changed: serving the new certificate');
      },
      onError: (err) => log.warn({ err: errorMessage(err) }, 'cannot load the TLS files; serving the current ones'),
    },
    pollMs,
  );
}
