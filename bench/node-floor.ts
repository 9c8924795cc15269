/**
 * The smallest correct TLS reverse proxy in Node (benchmark peer, not product): a node:https server
 * whose every request is sent to the one upstream API server on a keep-alive pool and whose answer is
 * piped back with its status and headers; nothing else (no routing, no identity, no metrics, no logs).
 * Beside the aggregator it shows what Node itself costs on the aggregator's path. Env: FLOOR_PORT,
 * FLOOR_TLS_DIR (tls.crt, tls.key; ca.crt: the upstream's CA), FLOOR_UPSTREAM (https://host:port),
 * FLOOR_CLIENT (`https`: node:https's Agent, the aggregator's client; `undici`: an undici Pool).
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent, createServer, request } from 'node:https';
import { join } from 'node:path';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const dir = process.env.FLOOR_TLS_DIR!;
const upstream = new URL(process.env.FLOOR_UPSTREAM!);
const ca = readFileSync(join(dir, 'ca.crt'));

/** A failed upstream answers 502 if nothing was sent yet, else cuts the response. */
function fail(res: ServerResponse): void {
  if (res.headersSent) res.destroy();
  else res.writeHead(502).end();
}

/** node:https with the aggregator's pool options (lib/kube/cluster-connection.ts). */
function viaHttps(): Handler {
  const agent = new Agent({ keepAlive: true, maxFreeSockets: 64, scheduling: 'lifo', ca, servername: 'localhost' });
  return (req, res) => {
    const upstreamReq = request(upstream, { agent, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
      answer.on('error', () => fail(res));
    });
    upstreamReq.on('error', () => fail(res));
    res.on('close', () => res.writableFinished || upstreamReq.destroy()); // the client went away
    req.pipe(upstreamReq);
  };
}

/** Headers of one connection that undici refuses to forward (it manages its own connections). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);

/** undici's Pool instead of node:https: the upstream client is the only difference. */
async function viaUndici(): Promise<Handler> {
  const { Pool } = await import('undici'); // loaded only by this variant, so the https floor's heap stays Node's own
  const pool = new Pool(upstream.origin, { connect: { ca, servername: 'localhost' }, pipelining: 1 });
  return (req, res) => {
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !HOP_BY_HOP.has(k)));
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    pool.request({ method: req.method as 'GET', path: req.url!, headers, body: hasBody ? req : undefined }).then(
      (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.body.pipe(res);
        answer.body.on('error', () => fail(res));
        res.on('close', () => res.writableFinished || answer.body.destroy());
      },
      () => fail(res),
    );
  };
}

const handle = process.env.FLOOR_CLIENT === 'undici' ? await viaUndici() : viaHttps();
const server = createServer({ cert: readFileSync(join(dir, 'tls.crt')), key: readFileSync(join(dir, 'tls.key')) }, handle);
server.keepAliveTimeout = 65_000; // the aggregator's: the bench's clients idle between their turns
server.listen(Number(process.env.FLOOR_PORT), '127.0.0.1');
