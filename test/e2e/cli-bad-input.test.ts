/**
 * Every bridgectl command, given wrong, missing, repeated or malformed flags, exits 1 with one line
 * naming the problem and the fix, and touches nothing: the running lab's files (all but growing logs
 * and etcd's data), its processes and any output folder are exactly as before.
 * Runs on a private lab (its own folder), so no other test changes the lab while this one compares it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../helpers/lab-clients.js';

const privateLab = mkdtempSync(join(tmpdir(), 'bridge-lab-cli-'));
const scratch = mkdtempSync(join(tmpdir(), 'bridge-cli-out-'));
const env = { ...process.env, BRIDGE_LAB_DIR: privateLab };
const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');
const bridgectl = (args: string[]) => run(process.execPath, [CLI, ...args], { env });

/** Content hashes of every file under `dir` except logs and etcd's data, which the running lab keeps writing. */
function fileHashes(dir: string, out: Record<string, string> = {}): Record<string, string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'etcd-data') fileHashes(path, out);
    } else if (!name.endsWith('.log')) {
      out[path] = createHash('sha256').update(readFileSync(path)).digest('hex');
    }
  }
  return out;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Snapshot {
  files: Record<string, string>;
  processes: Record<string, boolean>;
}

function labSnapshot(): Snapshot {
  const state = JSON.parse(readFileSync(join(privateLab, 'state.json'), 'utf8')) as { clusters: Record<string, { daemons: { name: string; pid: number }[] }> };
  const installed = JSON.parse(readFileSync(join(privateLab, 'install', 'state.json'), 'utf8')) as { name: string; pid: number }[];
  const daemons = [...Object.values(state.clusters).flatMap((c) => c.daemons), ...installed];
  return {
    files: { ...fileHashes(privateLab), ...fileHashes(scratch) },
    processes: Object.fromEntries(daemons.map((d) => [`${d.name}:${d.pid}`, isAlive(d.pid)])),
  };
}

let sourcePort = 0;
let caDir = '';
let podFile = '';
let unreachableKubeconfig = '';

beforeAll(async () => {
  const up = await bridgectl(['lab', 'up']);
  expect(up.stderr).not.toContain('error:');
  expect(up.code).toBe(0);
  sourcePort = Number(/source +https:\/\/127\.0\.0\.1:(\d+)/.exec(up.stdout)?.[1]);
  const install = await bridgectl(['lab', 'install']);
  expect(install.stderr).not.toContain('error:');
  expect(install.code).toBe(0);
  caDir = join(scratch, 'ca');
  expect((await bridgectl(['certs', 'ca', '--out', caDir])).code).toBe(0);
  podFile = join(scratch, 'pod.yaml');
  writeFileSync(podFile, 'apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: lab-apps}\nspec: {containers: [{name: c, image: x}]}\n');
  mkdirSync(join(scratch, 'empty-out'));
  // The lab's own credentials for an API server that is not there (nothing listens on port 1).
  unreachableKubeconfig = join(scratch, 'unreachable.kubeconfig');
  writeFileSync(
    unreachableKubeconfig,
    readFileSync(join(privateLab, 'destination.kubeconfig'), 'utf8').replace(/https:\/\/127\.0\.0\.1:\d+/, 'https://127.0.0.1:1'),
  );
}, 10 * 60_000);

afterAll(async () => {
  await bridgectl(['lab', 'down', '--purge']);
  rmSync(privateLab, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
}, 120_000);

/**
 * [arguments, what the one error line must say]. Placeholders: @CA (a CA folder), @POD (a Pod file), @OUT (an empty folder),
 * @UNREACHABLE (a kubeconfig whose API server does not listen).
 */
const CASES: [string, RegExp][] = [
  ['nosuch command', /BRIDGE_ERR_USAGE: unknown command "nosuch command"/],
  ['lab', /BRIDGE_ERR_USAGE: unknown command "lab"/],
  // lab up: nothing may stop the healthy lab.
  ['lab up --k8s-version banana', /BRIDGE_ERR_USAGE: --k8s-version must be a Kubernetes release like v1\.\d+\.\d+, got "banana"/],
  [
    'lab up --k8s-version v1.28.15',
    /BRIDGE_ERR_WOULD_REPLACE: a v1\.36\.3 lab is running and differs from this request: it runs v1\.36\.3, not v1\.28\.15 .*--replace/,
  ],
  ['lab up --source-port @OTHER_PORT', /BRIDGE_ERR_WOULD_REPLACE: a v1\.36\.3 lab is running .*its source API server listens on \d+, not \d+/],
  ['lab up --destination-service-cidr 10.200.0.0/16', /BRIDGE_ERR_WOULD_REPLACE: .*its destination service range is 10\.96\.0\.0\/16, not 10\.200\.0\.0\/16/],
  ['lab up --k8s-version', /BRIDGE_ERR_USAGE: lab up: Option '--k8s-version <value>' argument missing/],
  ['lab up --source-port 70000', /BRIDGE_ERR_USAGE: lab up: --source-port must be a port number 0-65535/],
  ['lab up --source-port six', /BRIDGE_ERR_USAGE: lab up: --source-port must be a port number/],
  ['lab up --source-port 7001 --source-port 7002', /BRIDGE_ERR_USAGE: lab up: --source-port is given more than once/],
  ['lab up --source-port 7001 --destination-port 7001', /BRIDGE_ERR_USAGE: --source-port and --destination-port are both 7001/],
  ['lab up --source-service-cidr 10.96.0.1/16', /BRIDGE_ERR_USAGE: --source-service-cidr has host bits set/],
  ['lab up --source-service-cidr 10.0.0.0/8', /BRIDGE_ERR_USAGE: --source-service-cidr must have a prefix between \/12 and \/28/],
  ['lab up --source-service-cidr fd00::/108', /BRIDGE_ERR_USAGE: --source-service-cidr is not an IPv4 CIDR/],
  ['lab up --replace=yes', /BRIDGE_ERR_USAGE: lab up: Option '--replace' does not take an argument/],
  ['lab up --verbose', /BRIDGE_ERR_USAGE: lab up: Unknown option '--verbose'/],
  ['lab up now', /BRIDGE_ERR_USAGE: lab up: Unexpected argument 'now'/],
  ['lab down --purge yes', /BRIDGE_ERR_USAGE: lab down: Unexpected argument 'yes'/],
  ['lab down --force', /BRIDGE_ERR_USAGE: lab down: Unknown option '--force'/],
  ['lab status --watch', /BRIDGE_ERR_USAGE: lab status: Unknown option '--watch'/],
  ['lab install', /BRIDGE_ERR_WOULD_REPLACE: components from an earlier install are running: webhook \(pid \d+\).*--replace/],
  ['lab install --replace --replace', /BRIDGE_ERR_USAGE: lab install: --replace is given more than once/],
  ['lab build --k8s-version 1.36', /BRIDGE_ERR_USAGE: --k8s-version must be a Kubernetes release/],
  ['demo --fast', /BRIDGE_ERR_USAGE: demo: Unknown option '--fast'/],
  ['demo --replace --replace', /BRIDGE_ERR_USAGE: demo: --replace is given more than once/],
  // Components: flags are checked before anything listens or connects.
  ['sidecar serve --upstream https://a:1 --fail-mode closed --listen-port abc', /BRIDGE_ERR_CONFIG: BRIDGE_LISTEN_PORT must be a port number 0-65535/],
  ['sidecar serve --upstream https://a:1 --upstream https://b:1', /BRIDGE_ERR_USAGE: sidecar serve: --upstream is given more than once/],
  ['sidecar serve --upstream https://[fd00::1]', /BRIDGE_ERR_CONFIG: BRIDGE_UPSTREAM must be host:port/],
  [
    'webhook serve --sidecar-style native --upstream a:1 --port 99999 --tls-cert-file @POD --tls-key-file @POD',
    /BRIDGE_ERR_CONFIG: BRIDGE_WEBHOOK_PORT must be a port number/,
  ],
  ['webhook serve --self-provision=true', /BRIDGE_ERR_USAGE: webhook serve: Option '--self-provision' does not take an argument/],
  ['webhook serve --upstream a:1', /BRIDGE_ERR_CONFIG: no serving certificate/],
  ['webhook inject', /BRIDGE_ERR_USAGE: webhook inject needs --file/],
  ['webhook inject --file /nonexistent/pod.yaml', /BRIDGE_ERR_USAGE: webhook inject: cannot read --file \/nonexistent\/pod\.yaml: ENOENT/],
  ['webhook inject --file @CA/bridge-ca.crt', /BRIDGE_ERR_USAGE: webhook inject: document 1 of .* is not a Pod/],
  [
    'webhook inject --file @POD --upstream https://[fd00::1]',
    /BRIDGE_ERR_USAGE: webhook inject: --upstream must be host:port, \[ipv6\]:port or https:\/\/host:port/,
  ],
  ['webhook inject --file @POD --upstream fd00::1:443', /BRIDGE_ERR_USAGE: webhook inject: --upstream must be host:port/],
  ['webhook inject --file @POD --upstream a:0', /BRIDGE_ERR_USAGE: webhook inject: --upstream .*the port must be a port number 1-65535/],
  ['webhook inject --file @POD --style sidecar', /BRIDGE_ERR_USAGE: webhook inject: --style must be native or container, got "sidecar"/],
  ['certs ca', /BRIDGE_ERR_USAGE: certs ca needs --out/],
  ['certs ca --out @OUT --days -1', /BRIDGE_ERR_USAGE: certs ca: Option '--days' argument is ambiguous\. Did you forget/],
  ['certs ca --out @OUT --days=-1', /BRIDGE_ERR_USAGE: --days must be a positive number, got "-1"/],
  [
    'certs webhook --ca-dir /nonexistent --out @OUT',
    /BRIDGE_ERR_CERT: \/nonexistent lacks the intermediates bridge-ca-serving\.crt\|\.key and bridge-ca-client/,
  ],
  ['certs webhook --ca-dir @CA', /BRIDGE_ERR_USAGE: certs webhook needs --out/],
  ['certs webhook --ca-dir @CA --out @OUT --secret', /BRIDGE_ERR_USAGE: certs webhook: --secret prints a manifest and --out writes files/],
  ['certs sidecar --ca-dir @CA --secret', /BRIDGE_ERR_USAGE: certs sidecar needs --namespace/],
  ['certs sidecar --ca-dir @CA --out @OUT --cluster-ca /nonexistent', /BRIDGE_ERR_CERT: cannot read --cluster-ca \/nonexistent/],
  ['certs inspect --file @POD', /BRIDGE_ERR_CERT: .*pod\.yaml holds no PEM certificate/],
  ['aggregator serve --listen-port x', /BRIDGE_ERR_CONFIG: /],
  ['aggregator move --shard configmaps --to elsewhere', /BRIDGE_ERR_USAGE: --to must be source or destination, got "elsewhere"/],
  ['aggregator move --to destination', /BRIDGE_ERR_USAGE: --shard must name a resource type/],
  ['aggregator move --shard configmaps --to destination --timeout-seconds 0', /BRIDGE_ERR_USAGE: --timeout-seconds must be a positive number, got "0"/],
  [
    'aggregator move --shard clusterrolebindings.rbac.authorization.k8s.io --to destination',
    /BRIDGE_ERR_USAGE: clusterrolebindings.rbac.authorization.k8s.io is never moved/,
  ],
  ['aggregator move --namespace kube-system --to destination', /BRIDGE_ERR_USAGE: --namespace: kube-system is a system namespace/],
  ['aggregator move --namespace Bad_NS --to destination', /BRIDGE_ERR_USAGE: --namespace: "Bad_NS" is not a namespace name/],
  ['aggregator move --shard configmaps --namespace app --to destination', /BRIDGE_ERR_USAGE: --shard and --namespace exclude each other/],
  ['aggregator status --output yaml', /BRIDGE_ERR_USAGE: --output must be json, got "yaml"/],
  ['sync status --output yaml', /BRIDGE_ERR_USAGE: --output must be json, got "yaml"/],
  ['sync status --url ftp://x:1', /BRIDGE_ERR_USAGE: --url must be http:\/\/host:port \(the synchronizer's ops port\), got "ftp:\/\/x:1"/],
  ['sync status --url http://127.0.0.1:1', /BRIDGE_ERR_UPSTREAM_UNREACHABLE: cannot reach the synchronizer at http:\/\/127.0.0.1:1/],
  ['sync status --url', /BRIDGE_ERR_USAGE: .*--url/],
  ['sync serve --listen-port 1 --listen-port 2', /BRIDGE_ERR_USAGE: sync serve: --listen-port is given more than once/],
  // preflight: nothing is created in either cluster before both kubeconfigs load and both API servers answer.
  ['preflight --verbose', /BRIDGE_ERR_USAGE: preflight: Unknown option '--verbose'/],
  ['preflight --output yaml', /BRIDGE_ERR_USAGE: --output must be json, got "yaml"/],
  ['preflight --source-kubeconfig', /BRIDGE_ERR_USAGE: preflight: Option '--source-kubeconfig <value>' argument missing/],
  ['preflight --source-kubeconfig /nonexistent/source.kubeconfig', /BRIDGE_ERR_CONFIG: the source kubeconfig \/nonexistent\/source\.kubeconfig does not exist/],
  ['preflight --destination-kubeconfig @POD', /BRIDGE_ERR_CONFIG: cannot read the destination kubeconfig .*pod\.yaml/],
  [
    'preflight --destination-kubeconfig @UNREACHABLE',
    /BRIDGE_ERR_UPSTREAM_UNREACHABLE: cannot reach the destination API server https:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/,
  ],
  // rollout: a plan is checked by flags, then by the API server (a dry run), before anything is written.
  ['rollout plan --stages 50,5,banana', /BRIDGE_ERR_USAGE: rollout plan: --stages takes percentages from 0 to 100 separated by commas, got "50,5,banana"/],
  ['rollout plan --stages 50,5', /BRIDGE_ERR_ROUTING: the destination refused the plan: .*stage fractions must not decrease/],
  ['rollout plan --stages 150', /BRIDGE_ERR_USAGE: rollout plan: --stages takes percentages from 0 to 100/],
  [
    'rollout plan --namespaces a --all-namespaces',
    /BRIDGE_ERR_USAGE: rollout plan: --namespaces, --namespace-selector and --all-namespaces exclude each other/,
  ],
  ['rollout plan --namespaces app,kube-system', /BRIDGE_ERR_USAGE: rollout plan: --namespaces: kube-system is a system namespace/],
  ['rollout plan --on-breach explode', /BRIDGE_ERR_USAGE: rollout plan: --on-breach must be rollback or pause, got "explode"/],
  ['rollout plan --soak-seconds ten', /BRIDGE_ERR_USAGE: rollout plan: --soak-seconds must be a number from 0 to 86400, got "ten"/],
  ['rollout plan --name Bad_Name', /BRIDGE_ERR_USAGE: rollout plan: --name must be a DNS label, got "Bad_Name"/],
  ['rollout plan --file /nonexistent/plan.yaml', /BRIDGE_ERR_USAGE: rollout plan: cannot read --file \/nonexistent\/plan\.yaml/],
  ['rollout plan --file @POD', /BRIDGE_ERR_USAGE: rollout plan: --file .*pod\.yaml has no stages/],
  ['rollout plan --file @POD --stages 5', /BRIDGE_ERR_USAGE: rollout plan: --file and --stages both give the stages/],
  ['rollout plan --kubeconfig @UNREACHABLE', /BRIDGE_ERR_KUBE_API: GET \/apis\/cluster-bridge\.io\/v1alpha1\/.*ECONNREFUSED/],
  ['status --output yaml', /BRIDGE_ERR_USAGE: status: --output must be json, got "yaml"/],
  ['status --watch --output json', /BRIDGE_ERR_USAGE: status: --watch redraws for a terminal/],
  ['status --sync-url ftp://x:1', /BRIDGE_ERR_USAGE: --sync-url must be http:\/\/host:port/],
  ['status', /BRIDGE_ERR_ROLLOUT: no unfinished BridgeRollout in cluster-bridge-system \(fix: create one with `bridgectl rollout plan`\)/],
  ['advance', /BRIDGE_ERR_ROLLOUT: no unfinished BridgeRollout in cluster-bridge-system/],
  ['rollback --name nosuch', /BRIDGE_ERR_ROLLOUT: no BridgeRollout "nosuch" in cluster-bridge-system/],
  ['resume --timeout-seconds 0', /BRIDGE_ERR_USAGE: resume: --timeout-seconds must be a number from 1 to 3600, got "0"/],
  ['pause --kubeconfig /nonexistent/destination.kubeconfig', /BRIDGE_ERR_CONFIG: cannot load kubeconfig \/nonexistent\/destination\.kubeconfig/],
  ['finalize --kubeconfig @UNREACHABLE', /BRIDGE_ERR_KUBE_API: GET \/apis\/cluster-bridge\.io\/v1alpha1\/.*ECONNREFUSED/],
  ['finalize extra', /BRIDGE_ERR_USAGE: finalize: Unexpected argument 'extra'/],
];

describe('bridgectl refuses bad input before touching anything', () => {
  it.each(CASES)('bridgectl %s', async (line, expected) => {
    const args = line.split(' ').map((word) =>
      word
        .replace('@OTHER_PORT', String(sourcePort + 1))
        .replace('@CA', caDir)
        .replace('@POD', podFile)
        .replace('@UNREACHABLE', unreachableKubeconfig)
        .replace('@OUT', join(scratch, 'empty-out')),
    );
    const before = labSnapshot();
    const result = await bridgectl(args);
    const lines = result.stderr.split('\n').filter(Boolean);
    expect({ code: result.code, stdout: result.stdout, lines: lines.length }).toEqual({ code: 1, stdout: '', lines: 1 });
    expect(lines[0]).toMatch(expected);
    expect(lines[0]).toMatch(/^error: BRIDGE_ERR_[A-Z_]+: .+ \(fix: .+\)$/);
    expect(labSnapshot()).toEqual(before);
  });

  it.each([
    ['[fd00::1]:8443', 'https://[fd00::1]:8443'],
    ['https://aggregator.example.com:443', 'https://aggregator.example.com:443'],
    ['10.0.0.7:6443', 'https://10.0.0.7:6443'],
  ])('webhook inject --upstream %s is read as %s', async (upstream, expected) => {
    const result = await bridgectl(['webhook', 'inject', '--file', podFile, '--upstream', upstream]);
    expect(result.stderr).not.toContain('error:');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`name: BRIDGE_UPSTREAM\\s+value: ${expected.replace(/[[\].]/g, '\\$&')}\\n`));
  });

  it('left the lab running and serving', async () => {
    const status = await bridgectl(['lab', 'status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/source +ready/);
    expect(status.stdout).toMatch(/destination +ready/);
  });
});
