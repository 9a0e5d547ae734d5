// Micro-benchmark: what recording one cache-hit Check costs in the metrics,
// as shipped (plain numbers for the counters, rendered through prom-client's
// public collect() hook; the histogram as plain bucket counts,
// src/ops/plain-histogram.ts) against the same series kept entirely in
// prom-client counters and histograms.
//   npm run build && node bench/metrics-micro.mjs
import { Counter, Histogram, Registry } from 'prom-client';
import { Metrics } from '../dist/ops/metrics.js';

const CALLS = 2_000_000;
const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const METHOD = { grpc_type: 'unary', grpc_service: 'envoy.service.auth.v3.Authorization', grpc_method: 'Check' };

function nsPerCall(record) {
  for (let i = 0; i < CALLS / 10; i++) record(i);
  const started = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) record(i);
  return Number(process.hrtime.bigint() - started) / CALLS;
}

const shipped = new Metrics({ version: 'bench', nodeVersion: process.version });
const asShipped = (i) => {
  shipped.grpcStarted();
  shipped.cacheHit();
  shipped.check('allowed', 'default');
  shipped.grpcHandled(0, 0.0003 + (i & 7) * 1e-5);
};

const registry = new Registry();
const checks = new Counter({ name: 'c_total', help: 'h', labelNames: ['outcome', 'target'], registers: [registry] }).labels('allowed', 'default');
const started = new Counter({ name: 's_total', help: 'h', labelNames: Object.keys(METHOD), registers: [registry] }).labels(METHOD);
const handled = new Counter({ name: 'h_total', help: 'h', labelNames: [...Object.keys(METHOD), 'grpc_code'], registers: [registry] }).labels({ ...METHOD, grpc_code: 'OK' });
const hits = new Counter({ name: 'x_total', help: 'h', registers: [registry] });
const seconds = new Histogram({ name: 'd_seconds', help: 'h', labelNames: [...Object.keys(METHOD), 'grpc_code'], buckets: BUCKETS, registers: [registry] }).labels({ ...METHOD, grpc_code: 'OK' });
const allPublic = (i) => {
  started.inc();
  hits.inc();
  checks.inc();
  handled.inc();
  seconds.observe(0.0003 + (i & 7) * 1e-5);
};

const rows = [];
for (let round = 0; round < 3; round++) rows.push({ shipped: nsPerCall(asShipped), allPublic: nsPerCall(allPublic) });
const best = (key) => Math.min(...rows.map((row) => row[key]));
// Server CPU per cache-hit Check in bench/RESULTS.md: 70–96 µs.
const CHECK_NS = 80_000;
for (const key of ['shipped', 'allPublic']) {
  console.log(`${key.padEnd(10)} ${best(key).toFixed(0).padStart(5)} ns per Check = ${((100 * best(key)) / CHECK_NS).toFixed(2)} % of an 80 µs cache-hit Check`);
}
