// Open-loop GETs at a fixed rate over one keep-alive agent, as a busy in-cluster client sends them:
// RATE per second for SECONDS of the path given as the argument, to SERVER (default: the pod's
// KUBERNETES_SERVICE_*) with the token and CA files a pod has (or TOKEN_FILE, CA_FILE). Run as
// `node --input-type=module -e "$(cat get-load.mjs)" PATH`. Prints one JSON line: sent, ok, failed, p50/p99 ms.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { URL } from 'node:url';
import { Agent, request } from 'node:https';

const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
const env = process.env;
const server = env.SERVER ?? `https://${env.KUBERNETES_SERVICE_HOST}:${env.KUBERNETES_SERVICE_PORT}`;
const ca = readFileSync(env.CA_FILE ?? `${sa}/ca.crt`);
const token = readFileSync(env.TOKEN_FILE ?? `${sa}/token`, 'utf8').trim();
const path = process.argv[1];
const rate = Number(env.RATE ?? 200);
const seconds = Number(env.SECONDS ?? 20);
const agent = new Agent({ keepAlive: true, maxSockets: 16, ca });
const latencies = [];
let sent = 0;
let ok = 0;
const failed = {};

function get() {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request(new URL(path, server), { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => {
        latencies.push(performance.now() - started);
        if (res.statusCode === 200) ok++;
        else failed[res.statusCode] = (failed[res.statusCode] ?? 0) + 1;
        resolve();
      });
    });
    req.on('error', (err) => {
      failed[err.code ?? 'error'] = (failed[err.code ?? 'error'] ?? 0) + 1;
      resolve();
    });
    req.end();
  });
}

const inFlight = [];
const start = performance.now();
// Each tick sends what the schedule owes by now, so a late timer catches up instead of lowering the rate.
while (sent < rate * seconds) {
  const due = Math.min(rate * seconds, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
  while (sent < due) {
    sent++;
    inFlight.push(get());
  }
  await new Promise((r) => setTimeout(r, 5));
}
await Promise.all(inFlight);
latencies.sort((a, b) => a - b);
const at = (q) => Number((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN).toFixed(1));
console.log(JSON.stringify({ sent, ok, failed, seconds: Number(((performance.now() - start) / 1000).toFixed(1)), p50: at(0.5), p99: at(0.99) }));
agent.destroy();
