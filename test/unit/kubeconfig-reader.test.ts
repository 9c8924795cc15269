// The kubeconfig reader the components use instead of client-node's KubeConfig: client-go's fields,
// relative paths, KUBECONFIG merging, token files that rotate, clear errors, exec plugins handed to
// client-node, and that the long-running components never load client-node at all.
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { defaultAccess, kubeconfigFileAccess, TOKEN_FILE_MAX_AGE_MS } from '../../lib/kube/kubeconfig-reader.js';
import { loadKubeConfig } from '../../lib/kube/rest-client.js';
import { repoRoot } from '../../lib/process/paths.js';

let dir: string;
const savedKubeconfig = process.env.KUBECONFIG;
const b64 = (text: string) => Buffer.from(text).toString('base64');

function kubeconfig(file: string, cluster: object, user: object, extra: { currentContext?: string | null; name?: string } = {}): string {
  const name = extra.name ?? 'lab';
  const path = join(dir, file);
  writeFileSync(
    path,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      ...(extra.currentContext === null ? {} : { 'current-context': extra.currentContext ?? name }),
      clusters: [{ name, cluster }],
      users: [{ name, user }],
      contexts: [{ name, context: { cluster: name, user: name } }],
    }),
  );
  return path;
}

async function applied(access: { applyToHTTPSOptions(o: RequestOptions): Promise<void> }): Promise<RequestOptions> {
  const options: RequestOptions = {};
  await access.applyToHTTPSOptions(options);
  return options;
}

const text = (value: unknown) => (value === undefined ? undefined : String(value));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kubeconfig-reader-'));
  mkdirSync(join(dir, 'pki'));
  writeFileSync(join(dir, 'pki', 'ca.crt'), 'CA FROM FILE');
  writeFileSync(join(dir, 'pki', 'client.crt'), 'CERT FROM FILE');
  writeFileSync(join(dir, 'pki', 'client.key'), 'KEY FROM FILE');
});

afterEach(() => {
  if (savedKubeconfig === undefined) delete process.env.KUBECONFIG;
  else process.env.KUBECONFIG = savedKubeconfig;
  jest.useRealTimers();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a kubeconfig file', () => {
  it('gives the server without its trailing slash, the CA and the client certificate from inline data', async () => {
    const file = kubeconfig(
      'data.kubeconfig',
      { server: 'https://127.0.0.1:6443/', 'certificate-authority-data': b64('CA') },
      { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') },
    );
    const access = kubeconfigFileAccess(file);
    expect(access.server).toBe('https://127.0.0.1:6443');
    const options = await applied(access);
    expect([text(options.ca), text(options.cert), text(options.key)]).toEqual(['CA', 'CERT', 'KEY']);
    expect(options.headers).toBeUndefined();
  });

  it('reads files named relative to the kubeconfig, as client-go does', async () => {
    const file = kubeconfig(
      'paths.kubeconfig',
      { server: 'https://h:1', 'certificate-authority': 'pki/ca.crt', 'insecure-skip-tls-verify': true, 'tls-server-name': 'kubernetes' },
      { 'client-certificate': 'pki/client.crt', 'client-key': join(dir, 'pki', 'client.key') },
    );
    const options = await applied(kubeconfigFileAccess(file));
    expect([text(options.ca), text(options.cert), text(options.key)]).toEqual(['CA FROM FILE', 'CERT FROM FILE', 'KEY FROM FILE']);
    expect(options).toMatchObject({ rejectUnauthorized: false, servername: 'kubernetes' });
  });

  it('sends a token as a bearer Authorization, keeping the headers already set', async () => {
    const file = kubeconfig('token.kubeconfig', { server: 'https://h:1' }, { token: 'abc' });
    const options: RequestOptions = { headers: { accept: 'application/json' } };
    await kubeconfigFileAccess(file).applyToHTTPSOptions(options);
    expect(options.headers).toEqual({ accept: 'application/json', authorization: 'Bearer abc' });
  });

  it('re-reads a token file once its copy is a minute old (kubelet rotates it)', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    writeFileSync(join(dir, 'token'), 'first\n');
    const access = kubeconfigFileAccess(kubeconfig('tokenfile.kubeconfig', { server: 'https://h:1' }, { tokenFile: 'token' }));
    expect((await applied(access)).headers).toEqual({ authorization: 'Bearer first' });
    writeFileSync(join(dir, 'token'), 'second\n');
    jest.advanceTimersByTime(TOKEN_FILE_MAX_AGE_MS - 1000);
    expect((await applied(access)).headers).toEqual({ authorization: 'Bearer first' });
    jest.advanceTimersByTime(1000);
    expect((await applied(access)).headers).toEqual({ authorization: 'Bearer second' });
  });

  it.each([
    ['no current-context', () => kubeconfig('nocontext.kubeconfig', { server: 'https://h:1' }, {}, { currentContext: null }), /names no current-context/],
    [
      'a current-context it lacks',
      () => kubeconfig('other.kubeconfig', { server: 'https://h:1' }, {}, { currentContext: 'elsewhere' }),
      /current-context elsewhere is not among its contexts/,
    ],
    ['a cluster without a server', () => kubeconfig('noserver.kubeconfig', {}, {}), /the cluster of context lab has no server/],
  ])('is refused with BRIDGE_ERR_CONFIG when it has %s', (_, write, message) => {
    const file = write();
    expect(() => loadKubeConfig(file)).toThrow(message);
    expect(() => loadKubeConfig(file)).toThrow(expect.objectContaining({ code: 'BRIDGE_ERR_CONFIG' }));
  });

  it('is refused when the file is missing or not a kubeconfig', () => {
    expect(() => loadKubeConfig(join(dir, 'absent'))).toThrow(/cannot load kubeconfig .*absent: ENOENT/);
    writeFileSync(join(dir, 'garbage.kubeconfig'), 'a: [unclosed');
    expect(() => loadKubeConfig(join(dir, 'garbage.kubeconfig'))).toThrow(/cannot load kubeconfig .*garbage.kubeconfig/);
  });

  it('hands an exec credential plugin to client-node, which runs it', async () => {
    const plugin = join(dir, 'credential-plugin.sh');
    writeFileSync(plugin, `#!/bin/sh\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-plugin"}}'\n`);
    chmodSync(plugin, 0o755);
    const file = kubeconfig(
      'exec.kubeconfig',
      { server: 'https://h:1', 'certificate-authority': 'pki/ca.crt' },
      { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin, interactiveMode: 'Never' } },
    );
    const options = await applied(kubeconfigFileAccess(file));
    const headers = Object.entries(options.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]);
    expect(headers).toEqual([['authorization', 'Bearer from-plugin']]);
    expect(text(options.ca)).toBe('CA FROM FILE');
  });
});

describe('without a path', () => {
  it("merges KUBECONFIG's files as client-go does: the first file to name an entry or the current context wins", async () => {
    const first = kubeconfig('first.kubeconfig', { server: 'https://first:1' }, { token: 'first' }, { currentContext: null, name: 'shared' });
    const second = kubeconfig('second.kubeconfig', { server: 'https://second:1' }, { token: 'second' }, { name: 'shared' });
    process.env.KUBECONFIG = [join(dir, 'absent'), first, second].join(delimiter);
    const access = defaultAccess();
    expect(access.server).toBe('https://first:1');
    expect((await applied(access)).headers).toEqual({ authorization: 'Bearer first' });
  });
});

describe('the long-running components', () => {
  it('never load @kubernetes/client-node (it adds about 30 MB of heap to each)', async () => {
    // Node's module hooks see every module the child resolves; it imports each component's server and the CLI.
    const probe = `
      import { registerHooks } from 'node:module';
      const loaded = [];
      registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); if (r.url.includes('client-node')) loaded.push(r.url); return r; } });
      for (const m of ['aggregator/server.js', 'synchronizer/server.js', 'webhook/serve.js', 'cli/main.js']) await import(${JSON.stringify(join(repoRoot(), 'dist'))} + '/' + m);
      console.log(JSON.stringify(loaded));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', probe, '--', '--help'], { cwd: dir });
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual([]);
  });
});
