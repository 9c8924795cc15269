/** `bridgectl webhook serve|inject`. */
import { readFileSync } from 'node:fs';
import { parseAllDocuments, stringify } from 'yaml';
import { BridgeError, errorMessage } from '../lib/errors.js';
import { createLogger } from '../lib/logger.js';
import { injectorVersion } from '../webhook/constants.js';
import { shouldInject } from '../webhook/decision.js';
import { defaultInjectionConfig } from '../webhook/injection-config.js';
import { injectPod } from '../webhook/mutation.js';
import type { Pod } from '../webhook/pod-types.js';
import { SERVE_FLAGS, loadServeConfig, mergeFlags, type ServeFlag } from '../webhook/serve-config.js';
import { runWebhook } from '../webhook/serve.js';
import { parseFlags, say, type Command } from './command.js';

const serveOptions = Object.fromEntries(
  Object.keys(SERVE_FLAGS).map((flag) => [flag, flag === 'self-provision' ? { type: 'boolean' as const } : { type: 'string' as const }]),
) as Record<ServeFlag, { type: 'string' } | { type: 'boolean' }>;

const serve: Command = {
  summary: 'run the sidecar-injecting admission webhook in the foreground (flags or BRIDGE_* environment)',
  async run(args) {
    const flags = parseFlags('webhook serve', args, serveOptions) as Partial<Record<ServeFlag, string | boolean>>;
    const config = loadServeConfig(mergeFlags(flags, process.env), injectorVersion());
    const log = createLogger('webhook');
    const running = await runWebhook(config, log);
    say(`webhook: serving https://${config.host}:${running.admission.port}/mutate (ops http://${config.opsHost}:${config.opsPort}, sidecar style ${running.injection.sidecarStyle})`);
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        log.info({ signal }, 'draining');
        running.stop().then(resolve, (err: unknown) => {
          log.error({ err: errorMessage(err) }, 'drain failed');
          resolve();
        });
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
  },
};

const inject: Command = {
  summary: 'print what the webhook would do to the pods in a YAML file (--file, --namespace, --style native|container, --upstream host:port)',
  async run(args) {
    const flags = parseFlags('webhook inject', args, {
      file: { type: 'string' },
      namespace: { type: 'string' },
      style: { type: 'string' },
      upstream: { type: 'string' },
    });
    if (!flags.file) throw new BridgeError('BRIDGE_ERR_USAGE', 'webhook inject needs --file', { fix: 'pass --file pod.yaml' });
    const style = flags.style ?? 'native';
    if (style !== 'native' && style !== 'container') throw new BridgeError('BRIDGE_ERR_USAGE', `--style must be native or container, got "${style}"`);
    const [host, port] = (flags.upstream ?? 'cluster-bridge-aggregator.example.com:443').split(':');
    const config = defaultInjectionConfig({ version: injectorVersion(), sidecarStyle: style, upstream: { host: host!, port: Number(port ?? 443) } });
    const out: string[] = [];
    for (const doc of parseAllDocuments(readFileSync(flags.file, 'utf8'))) {
      const pod = doc.toJS() as Pod;
      const namespace = flags.namespace ?? pod.metadata?.namespace ?? 'default';
      const decision = shouldInject(pod, { name: namespace }, config);
      say(`${pod.metadata?.name ?? pod.metadata?.generateName ?? '?'}: ${decision.reason}`);
      out.push(stringify(decision.inject ? injectPod(pod, decision.mode, config) : pod));
    }
    process.stdout.write(out.join('---\n'));
  },
};

export const webhookCommands: Record<string, Command> = { serve, inject };
