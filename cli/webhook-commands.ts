/** `bridgectl webhook serve|inject`. */
import { readFileSync } from 'node:fs';
import { parseAllDocuments, stringify } from 'yaml';
import { readHostPort } from '../lib/process/config.js';
import { describeFlags, envWithFlags } from '../lib/process/env-flags.js';
import { BridgeError, errorMessage } from '../lib/errors.js';
import { createLogger } from '../lib/process/logger.js';
import { runUntilSignal } from '../lib/process/run-until-signal.js';
import { injectorVersion } from '../webhook/constants.js';
import { shouldInject } from '../webhook/decision.js';
import { defaultInjectionConfig } from '../webhook/injection-config.js';
import { injectPod } from '../webhook/mutation.js';
import type { Pod } from '../webhook/pod-types.js';
import { WEBHOOK_BOOLEAN_SETTINGS, WEBHOOK_ENV, loadServeConfig } from '../webhook/serve-config.js';
import { runWebhook } from '../webhook/serve.js';
import { parseFlags } from '../lib/process/flags.js';
import { guardProcess } from '../lib/process/guard.js';
import { say, type Command } from './command.js';

const serve: Command = {
  summary: `run the sidecar-injecting admission webhook in the foreground (flags override BRIDGE_* env)\n${describeFlags(WEBHOOK_ENV)}`,
  async run(args) {
    const config = loadServeConfig(envWithFlags('webhook serve', WEBHOOK_ENV, args, process.env, WEBHOOK_BOOLEAN_SETTINGS), injectorVersion());
    const log = createLogger('webhook');
    guardProcess(log);
    const running = await runWebhook(config, log);
    say(
      `webhook: serving https://${config.host}:${running.admission.port}/mutate (ops http://${config.opsHost}:${config.opsPort}, sidecar style ${running.injection.sidecarStyle})`,
    );
    await runUntilSignal(() => running.stop(), {
      onSignal: (signal) => log.info({ signal }, 'draining'),
      onStopFailed: (message) => log.error({ err: message }, 'drain failed'),
    });
  },
};

/** The Pods in a YAML file, or a usage error naming the file and what is wrong with it. */
function readPods(file: string): Pod[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new BridgeError('BRIDGE_ERR_USAGE', `webhook inject: cannot read --file ${file}: ${errorMessage(err)}`, {
      fix: 'pass the path of a YAML file with Pods',
    });
  }
  return parseAllDocuments(text).map((doc, index) => {
    const problem = doc.errors[0]?.message.split('\n')[0];
    const pod = problem ? undefined : (doc.toJS() as Pod & { kind?: string });
    if (!pod || pod.kind !== 'Pod') {
      throw new BridgeError('BRIDGE_ERR_USAGE', `webhook inject: document ${index + 1} of ${file} is not a Pod${problem ? `: ${problem}` : ''}`, {
        fix: 'pass a YAML file whose documents are all Pods',
      });
    }
    return pod;
  });
}

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
    if (style !== 'native' && style !== 'container')
      throw new BridgeError('BRIDGE_ERR_USAGE', `webhook inject: --style must be native or container, got "${style}"`, {
        fix: 'pass --style native or --style container',
      });
    const upstream = readHostPort(flags.upstream ?? 'cluster-bridge-aggregator.example.com:443');
    if (typeof upstream === 'string')
      throw new BridgeError('BRIDGE_ERR_USAGE', `webhook inject: --upstream ${upstream}`, {
        fix: 'pass e.g. --upstream aggregator.example.com:443 or --upstream [fd00::1]:443',
      });
    const pods = readPods(flags.file);
    const config = defaultInjectionConfig({ version: injectorVersion(), sidecarStyle: style, upstream });
    const out: string[] = [];
    for (const pod of pods) {
      const namespace = flags.namespace ?? pod.metadata?.namespace ?? 'default';
      const decision = shouldInject(pod, { name: namespace }, config);
      say(`${pod.metadata?.name ?? pod.metadata?.generateName ?? '?'}: ${decision.reason}`);
      out.push(stringify(decision.inject ? injectPod(pod, decision.mode, config) : pod));
    }
    process.stdout.write(out.join('---\n'));
  },
};

export const webhookCommands: Record<string, Command> = { serve, inject };
