/**
 * The sidecar's lean entry point: `node dist/sidecar/main.js [flags]` loads only the sidecar's own
 * modules (not the whole bridgectl CLI with the lab, webhook and Kubernetes client), because its
 * memory is paid once per pod. `bridgectl sidecar serve` runs the same code.
 */
import { fileURLToPath } from 'node:url';
import { envWithFlags } from '../lib/process/env-flags.js';
import { errorMessage, isBridgeError } from '../lib/errors.js';
import { guardProcess } from '../lib/process/guard.js';
import { runUntilSignal } from '../lib/process/run-until-signal.js';
import { loadSidecarConfig, SIDECAR_ENV } from './config.js';
import { createSidecarLog } from './log.js';
import { startSidecar } from './server.js';

/** Runs the sidecar until SIGTERM or SIGINT, then drains. Each flag overrides its BRIDGE_* variable (SIDECAR_ENV). */
export async function serveSidecar(args: string[], say: (line: string) => void): Promise<void> {
  const env = envWithFlags('sidecar serve', SIDECAR_ENV, args);
  const config = loadSidecarConfig(env);
  const log = createSidecarLog('sidecar');
  guardProcess(log);
  const sidecar = await startSidecar(config, { log });
  say(`sidecar listening on https://${config.listenHost}:${sidecar.port} (ops http://${config.opsHost}:${sidecar.opsPort})`);
  await runUntilSignal(() => sidecar.shutdown(), {
    onSignal: (signal) => say(`${signal}: draining (grace ${config.shutdownGraceMs / 1000} s)`),
    onStopFailed: (message) => say(`drain failed: ${message}`),
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
