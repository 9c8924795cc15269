/** `bridgectl sidecar serve`: the sidecar in the foreground, configured by flags over the environment. */
import { loadSidecarConfig, SIDECAR_ENV } from '../sidecar/config.js';
import { startSidecar } from '../sidecar/server.js';
import { type Command, parseFlags, say } from './command.js';

/** Each flag sets the environment variable of the same setting, so both paths share one validation. */
const FLAG_TO_ENV: Record<string, string> = {
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

const serve: Command = {
  summary: 'run the API sidecar in the foreground (flags override BRIDGE_* env)',
  async run(args) {
    const options = Object.fromEntries(Object.keys(FLAG_TO_ENV).map((flag) => [flag, { type: 'string' as const }]));
    const flags = parseFlags('sidecar serve', args, options) as Record<string, string | undefined>;
    const env: Record<string, string | undefined> = { ...process.env };
    for (const [flag, name] of Object.entries(FLAG_TO_ENV)) if (flags[flag] !== undefined) env[name] = flags[flag];
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
  },
};

export const sidecarCommands: Record<string, Command> = { serve };
