/**
 * Issue "Fast and unbreakable", item 6.5: memory stays bounded. 3000 random
 * bad requests (random official-schema CheckRequests each carrying ~48 KB of
 * unique data, and random raw gRPC bodies), with 24 distinct valid tokens
 * among them; afterwards the heap, measured after a full GC, has not grown by
 * more than 100 MB, and the exchange cache holds at most EXCHANGE_CACHE_MAX
 * entries (via the app's metrics and via GET /metrics).
 *
 * Why 100 MB is loose yet meaningful: the test process also holds the client,
 * grpc-js buffers, the authorization server and V8's own growth (compiled code,
 * lazily created tables), which move heapUsed by a few MB to a few tens of MB.
 * A leak that kept anything per request (the request, its token, a cache entry
 * keyed by it) would keep 3000 × ≥ 48 KB ≈ 140 MB: well over the bound.
 */
import http2 from 'node:http2';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import fc from 'fast-check';
import { summarize } from '../fixtures/envoy-client.js';
import { authorizationServer, serviceEnv, startService } from '../fixtures/service.js';
import { CheckBytesClient, encodeRequest, frame, rawCheck, rowOf, SEED } from '../fixtures/property-wire.js';
import { hugeText, materialize, requestSpec, RESOURCE_METADATA_URL, SMALL, tokenContext, type RequestSpec } from '../fixtures/property-requests.js';

const REQUESTS = 3000;
const CACHE_MAX = 8;
const VALID_TOKENS = 24;
const BOUND_MB = 100;
const PAD_BYTES = 40 * 1024;

/** A full GC: `global.gc` when node runs with --expose-gc; otherwise the flag is set at run time and gc taken from a new context. */
function collector(): (() => void) | undefined {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}

async function heapMb(gc: (() => void) | undefined): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

/** Runs `work(i)` for i in [from, to) with `concurrency` in flight. */
async function pool(from: number, to: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = from;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < to) await work(next++);
  }));
}

t.test('memory and the exchange cache stay bounded under random bad requests', async (t) => {
  t.comment(`fast-check seed ${SEED} (PROPERTY_SEED=<n> to change)`);
  const gc = collector();
  t.comment(gc ? 'measuring after a full GC' : 'no GC available: measuring without one');
  const as = await authorizationServer(t);
  const service = await startService(t, serviceEnv(as, { LOG_LEVEL: 'warn', EXCHANGE_CACHE_MAX: String(CACHE_MAX) }));
  const client = new CheckBytesClient(`127.0.0.1:${service.grpcPort}`);
  const session = http2.connect(`http://127.0.0.1:${service.grpcPort}`);
  session.on('error', () => {});
  t.teardown(() => {
    client.close();
    session.close();
  });
  const context = await tokenContext(as);

  // Inputs are drawn in batches of 100 from the seed, so none are held while the heap is measured.
  const specs = requestSpec(SMALL);
  const bodies = fc.uint8Array({ minLength: 0, maxLength: 2048 });
  const batchOf = (i: number) => Math.floor(i / 100);
  let batch = -1;
  let specBatch: RequestSpec[] = [];
  let bodyBatch: Uint8Array[] = [];
  const inputs = (i: number) => {
    if (batchOf(i) !== batch) {
      batch = batchOf(i);
      specBatch = fc.sample(specs, { seed: SEED + batch, numRuns: 100 });
      bodyBatch = fc.sample(bodies, { seed: SEED + 7919 * batch, numRuns: 100 });
    }
    return { spec: specBatch[i % 100]!, body: bodyBatch[i % 100]! };
  };
  /** Every valid token allowed is a new cache entry: 24 of them for 8 places. */
  const validEvery = Math.floor(REQUESTS / VALID_TOKENS);
  let allowed = 0;
  const failures: string[] = [];

  const one = async (i: number) => {
    const { spec, body } = inputs(i);
    if (i % validEvery === 0) {
      const token = await as.mintAccessToken({ sub: `memory-${i}` });
      const result = await client.call(encodeRequest({ attributes: { request: { http: { method: 'GET', path: '/mcp', headers: { authorization: `Bearer ${token}` } } } } }), 5000);
      if (result.response && summarize(result.response).allowed) allowed++;
      else failures.push(`valid token ${i}: ${result.error?.message ?? JSON.stringify(result.response)}`);
      return;
    }
    if (i % 3 === 0) {
      const reply = await rawCheck(session, frame(body));
      if (reply.grpcStatus === undefined) failures.push(`raw body ${i}: no grpc-status`);
      return;
    }
    const { request } = await materialize(spec, context);
    // ~48 KB of data unique to this request: a 40 KB header and an 8 KB token-shaped value.
    const http = (((request.attributes ??= {}) as Record<string, any>).request ??= {}).http ?? {};
    (http.headers ??= {})['x-pad'] = hugeText({ length: PAD_BYTES, seed: SEED + i });
    http.headers['x-token'] = `Bearer ${Buffer.from(hugeText({ length: 6 * 1024, seed: i })).toString('base64url')}`;
    (request.attributes as Record<string, any>).request.http = http;
    const result = await client.call(encodeRequest(request), 5000);
    if (result.error) failures.push(`request ${i}: gRPC ${result.error.code} ${result.error.details}`);
    else {
      try {
        const row = rowOf(result.response!, RESOURCE_METADATA_URL);
        if (row === 'internal') failures.push(`request ${i}: an unexpected exception (500)`);
      } catch (error) {
        failures.push(`request ${i}: ${(error as Error).message}`);
      }
    }
  };

  // Warm up (JIT, pools, lazily built tables), then measure.
  await pool(0, 300, 8, one);
  const before = await heapMb(gc);
  const started = performance.now();
  await pool(300, 300 + REQUESTS, 8, one);
  const seconds = (performance.now() - started) / 1000;
  specBatch = [];
  bodyBatch = [];
  const after = await heapMb(gc);
  const growth = after - before;
  t.comment(`${REQUESTS} requests in ${seconds.toFixed(1)} s; heapUsed ${before.toFixed(1)} MB → ${after.toFixed(1)} MB (${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MB)`);

  t.same(failures, [], 'every request was answered (a gRPC status for raw bodies, a CheckResponse otherwise)');
  t.ok(allowed >= VALID_TOKENS - 1, `the valid tokens were allowed (${allowed})`);
  t.ok(growth < BOUND_MB, `the heap grew by less than ${BOUND_MB} MB (${growth.toFixed(1)} MB)`);

  const entries = await service.app.metrics.value('authz_exchange_cache_entries');
  t.ok(entries >= 1 && entries <= CACHE_MAX, `the exchange cache holds 1..${CACHE_MAX} entries (${entries})`);
  const text = await (await fetch(`http://127.0.0.1:${service.httpPort}/metrics`)).text();
  const scraped = Number(/^authz_exchange_cache_entries(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1]);
  t.ok(scraped >= 1 && scraped <= CACHE_MAX, `GET /metrics says the same (${scraped})`);
});
