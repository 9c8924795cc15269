/**
 * The sidecar's lean entry point: `node dist/sidecar/main.js [flags]` loads only the sidecar's own
 * modules (not the whole bridgectl CLI with the lab, webhook and Kubernetes client), because its
 * memory is paid once per pod. `bridgectl sidecar serve` runs the same code.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BridgeError, errorMessage, isBridgeError } from '../lib/errors.js';
import { loadSidecarConfig, SIDECAR_ENV } from './config.js';
import { startSidecar } from './server.js';

/** Each flag sets the environment variable of the same setting, so both paths share one validation. */
export const FLAG_TO_ENV: Record<string, string> = {
  'listen-host': SIDECAR_ENV.listenHost,
  'listen-port': SIDECAR_ENV.listenPort,
  'ops-host': SIDECAR_ENV.opsHost,
  'ops-port': SIDECAR_ENV.opsPort,
  upstream: SIDECAR_ENV.upstream,
  'local-apiserver': SIDECAR_ENV.localApiserver,
  'local-ca-file': SIDECAR_ENV.localCaFile,
  'fail-mode': SIDECAR_ENV.failMode,
  'tls-dir': SIDECAR_ENV.tlsDir,
  'pod-name': SIDECAR_ENV.podName,
  'pod-namespace': SIDECAR_ENV.podNamespace,
  'node-name': SIDECAR_ENV.nodeName,
  'connect-timeout-ms': SIDECAR_ENV.connectTimeoutMs,
  'shutdown-grace-seconds': SIDECAR_ENV.shutdownGraceSeconds,
};

/** Runs the sidecar until SIGTERM or SIGINT, then drains. */
export async function serveSidecar(args: string[], say: (line: string) => void): Promise<void> {
  let flags: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(Object.keys(FLAG_TO_ENV).map((flag) => [flag, { type: 'string' as const }]));
    flags = parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new BridgeError('BRIDGE_ERR_USAGE', `sidecar serve: ${errorMessage(err)}`, { fix: 'run `bridgectl sidecar serve --help`' });
  }
  const env: Record<string, string | undefined> = { ...process.env };
  for (const [flag, name] of Object.entries(FLAG_TO_ENV)) if (typeof flags[flag] === 'string') env[name] = flags[flag];
  const config = loadSidecarConfig(env);
  const sidecar = await startSidecar(config);
  say(`sidecar listening on https://${config.listenHost}:${sidecar.port} (ops http://${config.opsHost}:${sidecar.opsPort})`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      say(`${signal}: draining (grace ${config.shutdownGraceMs / 1000} s)`);
      sidecar.shutdown().then(resolve, resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    await serveSidecar(process.argv.slice(2), (line) => process.stderr.write(`${line}\n`));
  } catch (err) {
    process.stderr.write(`error: ${isBridgeError(err) ? err.toLine() : errorMessage(err)}\n`);
    process.exitCode = 1;
  }
}
