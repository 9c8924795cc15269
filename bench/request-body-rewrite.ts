/**
 * CPU per request of rewriteRequestBody (lib/routing/request-rewrite.ts) for a typical ConfigMap update
 * to a shard with an RV offset: the protobuf body client-go v0.36.3 writes (test/helpers/go/protobuf-bodies,
 * needs Go), beside the same object as JSON and as YAML. Rounds alternate the formats so load on a
 * shared machine hits each alike; the median round is printed with the ratios to JSON.
 * Env: BENCH_ITERATIONS (per round, default 20000), BENCH_ROUNDS (default 7).
 */
import { stringify } from 'yaml';
import { rewriteRequestBody } from '../lib/routing/request-rewrite.js';
import { ShardRVCodec } from '../lib/routing/resource-version.js';
import { beginHandoff, completeHandoff, emptyRoutingTable, shardState } from '../lib/routing/routing-table.js';
import { clientGoFixtures, goDecode } from '../test/helpers/protobuf-bodies.js';
import { fmt, percentile } from './stats.js';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const NOW = new Date();

const codec = new ShardRVCodec(
  shardState(completeHandoff(beginHandoff(emptyRoutingTable(), 'configmaps', 'destination', NOW), 'configmaps', '5000', NOW), 'configmaps'),
);
const protobuf = clientGoFixtures()['configmap-update'];
const object = { apiVersion: 'v1', kind: 'ConfigMap', ...goDecode({ protobuf }).protobuf!.object };
const bodies = [
  { format: 'json', contentType: 'application/json', body: Buffer.from(JSON.stringify(object)) },
  { format: 'protobuf', contentType: 'application/vnd.kubernetes.protobuf', body: protobuf },
  { format: 'yaml', contentType: 'application/yaml', body: Buffer.from(stringify(object)) },
];

function microsPerRequest(body: Buffer, contentType: string): number {
  const start = process.cpuUsage();
  for (let i = 0; i < ITERATIONS; i++) {
    const out = rewriteRequestBody(body, contentType, codec, 'update');
    if (!out.ok) throw new Error(`${contentType}: ${out.reason} ${out.message}`);
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / ITERATIONS;
}

for (const { body, contentType } of bodies) microsPerRequest(body, contentType); // warm-up
const samples = new Map<string, number[]>(bodies.map((b) => [b.format, []]));
for (let round = 0; round < ROUNDS; round++) for (const { format, body, contentType } of bodies) samples.get(format)!.push(microsPerRequest(body, contentType));

const json = percentile(samples.get('json')!, 50);
console.log(`rewriteRequestBody, ConfigMap update (${ITERATIONS} x ${ROUNDS} rounds, median round; CPU user+system per request)`);
console.log('format    bytes  us/request  vs JSON');
for (const { format, body } of bodies) {
  const us = percentile(samples.get(format)!, 50);
  console.log(`${format.padEnd(9)} ${String(body.length).padStart(5)}  ${fmt(us).padStart(10)}  ${fmt(us / json)}x`);
}
