/** `bridgectl certs ca|webhook|sidecar|aggregator|synchronizer|inspect`: files, or Secret manifests with --secret. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { BridgeError, errorMessage } from '../lib/errors.js';
import { describeCertificate, splitPemBundle } from '../lib/tls/pki.js';
import {
  addMissingIntermediates,
  authorityFileNames,
  bridgeRootPem,
  createBridgeAuthority,
  readBridgeIssuers,
  readSidecarIssuers,
} from '../certs/bridge-authority.js';
import { issueComponentTlsFiles, issueSidecarTlsFiles, issueWebhookServingCert } from '../certs/bridge-certs.js';
import {
  AGGREGATOR_SERVICE,
  AGGREGATOR_TLS_SECRET,
  SIDECAR_TLS_SECRET,
  SYNCHRONIZER_SERVICE,
  SYNCHRONIZER_TLS_SECRET,
  SYSTEM_NAMESPACE,
  WEBHOOK_SERVICE,
  WEBHOOK_TLS_SECRET,
} from '../lib/names.js';
import { secretManifest, writeComponentTlsDir, writePemPair, writeSidecarTlsDir } from '../certs/cert-files.js';
import { isIpAddress } from '../webhook/injection-config.js';
import { parseFlags } from '../lib/process/flags.js';
import { say, type Command } from './command.js';

function need(value: string | undefined, flag: string, command: string): string {
  if (!value) throw new BridgeError('BRIDGE_ERR_USAGE', `certs ${command} needs ${flag}`, { fix: `run \`bridgectl certs ${command} --help\`` });
  return value;
}

function days(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new BridgeError('BRIDGE_ERR_USAGE', `--days must be a positive number, got "${value}"`);
  return n;
}

/** The --out folder, or undefined with --secret (which prints a manifest instead); never both. */
function fileOutput(f: { out?: string; secret?: boolean }, command: string): string | undefined {
  if (f.secret && f.out !== undefined)
    throw new BridgeError('BRIDGE_ERR_USAGE', `certs ${command}: --secret prints a manifest and --out writes files; pass one of them`, {
      fix: `drop --out or --secret`,
    });
  return f.secret ? undefined : need(f.out, '--out', command);
}

function readCertificateFile(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new BridgeError('BRIDGE_ERR_CERT', `cannot read ${flag} ${file}: ${errorMessage(err)}`, { fix: `check the path given to ${flag}` });
  }
}

const ca: Command = {
  summary:
    "create the bridge root and its intermediates (the sidecars' serving and client ones, the components' serving and client ones): --out DIR [--name bridge-ca] [--common-name CN] [--days 3650] [--add-missing]",
  async run(args) {
    const f = parseFlags('certs ca', args, {
      out: { type: 'string' },
      name: { type: 'string' },
      'common-name': { type: 'string' },
      days: { type: 'string' },
      'add-missing': { type: 'boolean' },
    });
    const out = need(f.out, '--out', 'ca');
    const name = f.name ?? 'bridge-ca';
    const files = authorityFileNames(name);
    const validity = { validityDays: days(f.days, 3650) };
    if (f['add-missing']) {
      const added = await addMissingIntermediates(out, name, validity);
      say(added.length ? `wrote ${added.map((role) => join(out, `${files[role]}.crt|.key`)).join(', ')}` : `${out} has every intermediate`);
      return;
    }
    await createBridgeAuthority(out, f['common-name'] ?? 'cluster-bridge-ca', name, validity);
    const written = [files.root, files.serving, files.client, files.componentServing, files.componentClient].map((base) => join(out, `${base}.crt|.key`));
    say(
      `wrote ${written.join(', ')}; keep ${name}.key off the clusters, and the component-* keys with the installer (the webhook holds only the -serving and -client intermediates)`,
    );
  },
};

const webhook: Command = {
  summary: 'issue the webhook serving cert: --ca-dir DIR --out DIR [--service S] [--namespace N] [--san name|ip ...] [--days N] [--secret]',
  async run(args) {
    const f = parseFlags('certs webhook', args, {
      'ca-dir': { type: 'string' },
      'ca-name': { type: 'string' },
      out: { type: 'string' },
      service: { type: 'string' },
      namespace: { type: 'string' },
      san: { type: 'string', multiple: true },
      days: { type: 'string' },
      secret: { type: 'boolean' },
    });
    const caDir = need(f['ca-dir'], '--ca-dir', 'webhook');
    const out = fileOutput(f, 'webhook');
    const validityDays = days(f.days, 365);
    // The webhook's own Service names: a component's serving certificate, not the loopback-only sidecars' intermediate.
    const authority = readBridgeIssuers(caDir, f['ca-name']);
    const sans = f.san ?? [];
    const namespace = f.namespace ?? SYSTEM_NAMESPACE;
    const pair = await issueWebhookServingCert(authority.componentServing, {
      serviceName: f.service ?? WEBHOOK_SERVICE,
      namespace,
      extraDnsNames: sans.filter((s) => !isIpAddress(s)),
      ipAddresses: sans.filter(isIpAddress),
      validityDays,
    });
    if (!out) {
      process.stdout.write(
        stringify(secretManifest(WEBHOOK_TLS_SECRET, namespace, { 'tls.crt': pair.certPem, 'tls.key': pair.keyPem, 'ca.crt': bridgeRootPem(authority) })),
      );
      return;
    }
    const files = writePemPair(out, 'webhook', pair);
    say(`wrote ${files.certFile} and ${files.keyFile}`);
  },
};

const sidecar: Command = {
  summary: 'issue the sidecar TLS files (tls, client, ca bundle): --ca-dir DIR [--cluster-ca FILE] (--out DIR | --secret --namespace N)',
  async run(args) {
    const f = parseFlags('certs sidecar', args, {
      'ca-dir': { type: 'string' },
      'ca-name': { type: 'string' },
      'cluster-ca': { type: 'string' },
      out: { type: 'string' },
      secret: { type: 'boolean' },
      namespace: { type: 'string' },
      days: { type: 'string' },
    });
    const caDir = need(f['ca-dir'], '--ca-dir', 'sidecar');
    const namespace = f.secret ? need(f.namespace, '--namespace', 'sidecar') : undefined;
    const out = fileOutput(f, 'sidecar');
    const validityDays = days(f.days, 90);
    const authority = readSidecarIssuers(caDir, f['ca-name']);
    const trust =
      [f['cluster-ca'] ? readCertificateFile(f['cluster-ca'], '--cluster-ca').trim() : '', bridgeRootPem(authority).trim()].filter(Boolean).join('\n') + '\n';
    const files = await issueSidecarTlsFiles(authority, trust, { validityDays });
    if (!out) {
      process.stdout.write(stringify(secretManifest(SIDECAR_TLS_SECRET, namespace!, { ...files })));
      return;
    }
    writeSidecarTlsDir(out, files);
    say(`wrote tls.crt, tls.key, client.crt, client.key and ca.crt to ${out}`);
  },
};

/** The aggregator's or the synchronizer's BRIDGE_TLS_DIR; the aggregator's has a client certificate for the catch-up API. */
function componentCommand(component: 'aggregator' | 'synchronizer', service: string, secretName: string, client: boolean): Command {
  return {
    summary: `issue the ${component}'s TLS dir: --ca-dir DIR (--out DIR | --secret) [--san name|ip ...] [--namespace N] [--days N]`,
    async run(args) {
      const f = parseFlags(`certs ${component}`, args, {
        'ca-dir': { type: 'string' },
        'ca-name': { type: 'string' },
        out: { type: 'string' },
        namespace: { type: 'string' },
        san: { type: 'string', multiple: true },
        days: { type: 'string' },
        secret: { type: 'boolean' },
      });
      const authority = readBridgeIssuers(need(f['ca-dir'], '--ca-dir', component), f['ca-name']);
      const out = fileOutput(f, component);
      const namespace = f.namespace ?? SYSTEM_NAMESPACE;
      const sans = f.san ?? [];
      const files = await issueComponentTlsFiles(authority, service, {
        namespace,
        extraDnsNames: sans.filter((s) => !isIpAddress(s)),
        ipAddresses: sans.filter(isIpAddress),
        validityDays: days(f.days, 365),
        client,
      });
      if (!out) return void process.stdout.write(stringify(secretManifest(secretName, namespace, { ...files } as Record<string, string>)));
      writeComponentTlsDir(out, files);
      say(`wrote ${Object.keys(files).join(', ')} to ${out}`);
    },
  };
}

const aggregator = componentCommand('aggregator', AGGREGATOR_SERVICE, AGGREGATOR_TLS_SECRET, true);
const synchronizer = componentCommand('synchronizer', SYNCHRONIZER_SERVICE, SYNCHRONIZER_TLS_SECRET, false);

const inspect: Command = {
  summary: 'describe the certificates in a PEM file: --file F',
  async run(args) {
    const f = parseFlags('certs inspect', args, { file: { type: 'string' } });
    const certs = splitPemBundle(readCertificateFile(need(f.file, '--file', 'inspect'), '--file'));
    if (certs.length === 0) throw new BridgeError('BRIDGE_ERR_CERT', `${f.file} holds no PEM certificate`);
    process.stdout.write(`${JSON.stringify(certs.map(describeCertificate), null, 2)}\n`);
  },
};

export const certsCommands: Record<string, Command> = { ca, webhook, sidecar, aggregator, synchronizer, inspect };
