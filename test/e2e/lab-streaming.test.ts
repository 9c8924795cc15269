/**
 * The streaming calls operators and CI jobs make most (exec, exec -it, logs -f, port-forward) work
 * in the lab, directly against the source API server and through the sidecar, with the same results:
 * kube-apiserver proxies them to kwok's kubelet API on the fake node (lab/kubelet-streaming.ts).
 * kubectl is client-go, over WebSocket (v5, the default) and SPDY; python3-kubernetes uses WebSocket.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { appendPodLog } from '../../lab/kubelet-streaming.js';
import { labDir } from '../../lib/process/paths.js';
import { waitUntil } from '../../lib/wait-until.js';
import { PYTHON, createNamespace, kubectlOk, pythonScript, run, uniqueName, type RunResult } from '../helpers/lab-clients.js';
import { serviceAccountToken, startLabSidecar, tokenKubeconfig, type LabSidecar } from '../helpers/sidecar-lab.js';

type Mode = 'direct' | 'sidecar';
const MODES: Mode[] = ['direct', 'sidecar'];
const PROTOCOLS = { websocket: {}, spdy: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false', KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' } } as const;

interface Endpoint {
  server: string;
  caFile: string;
  tokenFile: string;
  namespace: string;
  kubeconfig: string;
}

let lab: LabSidecar;
const endpoints = {} as Record<Mode, Endpoint>;
const POD = 'streams';
const logsFile = join(labDir(), 'source', 'pod-logs', 'containers.log');

function kubectlAs(mode: Mode, args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<RunResult> {
  const e = endpoints[mode];
  return run('kubectl', ['--kubeconfig', e.kubeconfig, '-n', e.namespace, ...args], { input: options.input, env: { ...process.env, ...options.env } });
}

beforeAll(async () => {
  lab = await startLabSidecar();
  for (const mode of MODES) {
    const namespace = await createNamespace('source', `stream-${mode}`);
    const token = await serviceAccountToken(namespace);
    const server = mode === 'direct' ? lab.directServer : lab.server;
    const caPem = mode === 'direct' ? lab.sourceCaPem : lab.caBundlePem;
    const caFile = join(lab.dir, `${mode}-ca.crt`);
    const tokenFile = join(lab.dir, `${mode}-token`);
    writeFileSync(caFile, caPem);
    writeFileSync(tokenFile, token, { mode: 0o600 });
    endpoints[mode] = { server, caFile, tokenFile, namespace, kubeconfig: tokenKubeconfig(lab.dir, `stream-${mode}`, server, caPem, token, namespace) };
    await kubectlOk('source', ['-n', namespace, 'run', POD, '--image=registry.invalid/app:1', '--restart=Never']);
    await waitUntil(`pod ${namespace}/${POD} Running`, async () => {
      const phase = await kubectlOk('source', ['-n', namespace, 'get', 'pod', POD, '-o', 'jsonpath={.status.phase}']);
      return phase === 'Running';
    });
  }
}, 180_000);

afterAll(async () => {
  await lab?.sidecar.shutdown();
});

describe.each(MODES)('streams %s', (mode) => {
  it.each(Object.keys(PROTOCOLS) as (keyof typeof PROTOCOLS)[])(
    'kubectl exec over %s passes stdin to its end (EOF included), stdout, stderr and a non-zero exit code',
    async (protocol) => {
      const result = await kubectlAs(mode, ['exec', '-i', POD, '--', 'sh', '-c', 'cat; echo done; echo oops >&2; exit 3'], {
        input: 'line one\nline two\n',
        env: PROTOCOLS[protocol],
      });
      // `cat` ends only when stdin's EOF reached the process: the half-close went through.
      expect(result.stdout).toBe('line one\nline two\ndone\n');
      expect(result.stderr).toContain('oops');
      expect(result.code).toBe(3);
    },
  );

  it('kubectl exec -it runs in a pseudo-terminal', async () => {
    const e = endpoints[mode];
    // script(1) gives kubectl a terminal of its own; the remote side gets one too. The remote command
    // never prints right before it exits: the lab's fake kubelet (kwok) sometimes loses the output of a
    // pseudo-terminal whose process exits at once. So it reads a line after each answer, and the test
    // types one; the typed line coming back also shows that input reaches the remote terminal.
    const command = `kubectl --kubeconfig ${e.kubeconfig} -n ${e.namespace} exec -it ${POD} -- sh -c 'test -t 0 && echo tty-yes; read line; echo typed:$line; read done; exit 0'`;
    const terminal = spawn('script', ['-qec', command, '/dev/null']);
    let out = '';
    terminal.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = once(terminal, 'exit') as Promise<[number | null]>;
    try {
      await waitUntil(`tty-yes from kubectl exec -it (${mode})`, () => out.includes('tty-yes'));
      terminal.stdin.write('hello\r');
      await waitUntil(`the typed line to come back (${mode})`, () => out.includes('typed:hello'));
      terminal.stdin.write('bye\r');
    } finally {
      terminal.stdin.end();
    }
    const [code] = await exited;
    expect(code).toBe(0);
  });

  it('kubectl logs -f receives lines appended while it follows', async () => {
    const e = endpoints[mode];
    const marker = uniqueName(`follow-${mode}`);
    const follower = spawn('kubectl', ['--kubeconfig', e.kubeconfig, '-n', e.namespace, 'logs', '-f', POD]);
    let out = '';
    follower.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      // Lines keep arriving until one is seen: the follower may attach after the first append.
      await waitUntil(`the appended line in kubectl logs -f (${mode})`, () => {
        appendPodLog(logsFile, marker);
        return out.includes(marker);
      });
    } finally {
      follower.kill('SIGKILL');
    }
    expect(out).toContain(`${marker}\n`);
  });

  it.each(Object.keys(PROTOCOLS) as (keyof typeof PROTOCOLS)[])(
    'kubectl port-forward over %s carries 10 MB both ways',
    async (protocol) => {
      const e = endpoints[mode];
      const forwarder = spawn('kubectl', ['--kubeconfig', e.kubeconfig, '-n', e.namespace, 'port-forward', `pod/${POD}`, ':8080'], {
        env: { ...process.env, ...PROTOCOLS[protocol] },
      });
      let announced = '';
      forwarder.stdout.on('data', (d: Buffer) => (announced += d.toString()));
      try {
        const port = await waitUntil('kubectl port-forward to listen', () => /Forwarding from 127\.0\.0\.1:(\d+)/.exec(announced)?.[1]);
        const payload = randomBytes(10 * 1024 * 1024);
        const echoed = await new Promise<Buffer>((resolve, reject) => {
          const socket = connect({ host: '127.0.0.1', port: Number(port) });
          const chunks: Buffer[] = [];
          let size = 0;
          socket.on('data', (chunk: Buffer) => {
            chunks.push(chunk);
            size += chunk.length;
            if (size >= payload.length) {
              socket.destroy();
              resolve(Buffer.concat(chunks));
            }
          });
          socket.on('error', reject);
          socket.on('close', () => (size < payload.length ? reject(new Error(`closed after ${size} of ${payload.length} bytes`)) : undefined));
          socket.write(payload);
        });
        const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
        expect({ size: echoed.length, sha256: digest(echoed) }).toEqual({ size: payload.length, sha256: digest(payload) });
      } finally {
        forwarder.kill('SIGKILL');
      }
    },
    180_000,
  );

  it('python3-kubernetes exec over WebSocket gets stdout, stderr and the exit code', async () => {
    const e = endpoints[mode];
    const result = await run(PYTHON, [pythonScript('pod_exec.py'), e.server, e.caFile, e.tokenFile, e.namespace, POD]);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ stdout: 'got:from-python\n', stderr: 'oops\n', returncode: 4 });
  });
});

describe('through the sidecar', () => {
  it('leaves no stream open after a client disconnects in the middle of one', async () => {
    const e = endpoints.sidecar;
    const follower = spawn('kubectl', ['--kubeconfig', e.kubeconfig, '-n', e.namespace, 'exec', '-i', POD, '--', 'cat']);
    follower.stdout.resume();
    await waitUntil('the exec stream to be open in the sidecar', () => lab.sidecar.inFlight.upgraded.size > 0);
    follower.kill('SIGKILL');
    await waitUntil('the sidecar to release the stream', () => lab.sidecar.inFlight.upgraded.size === 0 && lab.sidecar.inFlight.active === 0, {
      timeoutMs: 30_000,
    });
    expect(lab.sidecar.inFlight.upgraded.size).toBe(0);
  });
});
