// Cold path: every token new, the authorization server slowed by a fixed
// exchangeDelayMs. (1) its direct exchange latency (a sequential undici
// client, as the service uses), (2) the service at c=1 → median overhead,
// (3) a herd: each new token sent by 200 concurrent streams, (4) distinct new
// tokens (each twice in a row) at 200 concurrent streams. Exchanges are
// counted by the authorization server's grant handler.
// Then (5) the split: the overhead at 1 stream taken apart by experiments
// (see `split`), and (6) a CPU profile of a fresh service during a cold run,
// its CPU per Check attributed to the code that spent it (see `profileCold`).
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { summariseProfileFile } from '../cpuprofile-summary.mjs';
import { EXCHANGE_CLIENT, UPSTREAM } from '../lib/constants.mjs';
import { LatencyRecorder } from '../lib/histogram.mjs';
import { startProcess } from '../lib/processes.mjs';
import { grpcRun } from '../lib/runs.mjs';
import { metricSum, ROOT, serviceEnv, startService } from '../lib/servers.mjs';
import { mean, median } from '../lib/stats.mjs';

export async function cold(ctx) {
  const { opts, log, outDir, control } = ctx;
  const files = {};
  const splitRuns = opts.coldSplitRounds * 2;
  for (const [name, count] of [
    ['direct', opts.coldDirect],
    ['c1', opts.coldC1],
    ['herd', opts.coldHerdTokens],
    ['distinct', opts.coldDistinct],
    ...Array.from({ length: splitRuns }, (_, i) => [`split-${i}`, opts.coldSplitCalls]),
    ['profile-warm', opts.coldProfileTokens],
    ['profile', opts.coldProfileTokens],
  ]) {
    files[name] = join(outDir, `tokens-cold-${name}.txt`);
    await control.mint(count, `cold-${name}`, files[name]);
  }
  await control.setDelay(opts.coldDelayMs);
  try {
    const result = { delayMs: opts.coldDelayMs };
    await control.tokenTimes(); // start a window
    result.direct = await directExchanges(ctx.as.tokenEndpoint, readFileSync(files.direct, 'utf8').split('\n').filter(Boolean));
    result.direct.asOwnP50Ms = median(await control.tokenTimes());
    log(`cold: direct exchange p50 ${result.direct.latencyMs.p50.toFixed(2)} ms`);

    const counted = async (config) => {
      const before = await control.state();
      const metricsBefore = metricSum(await ctx.service.metrics(), 'authz_exchange_calls_total');
      const run = await grpcRun(ctx.service, { mode: 'closed', connections: 1, order: 'once', durationS: 300, warmupS: 0, deadlineMs: 30_000, ...config });
      const exchanges = (await control.state()).exchanges - before.exchanges;
      const serviceExchangeCalls = metricSum(await ctx.service.metrics(), 'authz_exchange_calls_total') - metricsBefore;
      return { ...run, exchanges, serviceExchangeCalls };
    };
    await control.tokenTimes();
    const sums = async () => {
      const metrics = await ctx.service.metrics();
      return Object.fromEntries(['grpc_server_handling_seconds_sum', 'grpc_server_handling_seconds_count', 'authz_exchange_duration_seconds_sum', 'authz_exchange_duration_seconds_count'].map((name) => [name, metricSum(metrics, name)]));
    };
    const sumsBefore = await sums();
    result.c1 = { tokens: opts.coldC1, ...(await counted({ concurrency: 1, tokensFile: files.c1 })) };
    // The authorization server's own time for these exchanges, measured in its process.
    const asTimes = await control.tokenTimes();
    result.c1.asOwnP50Ms = median(asTimes);
    result.c1.asOwnMeanMs = mean(asTimes);
    // Where the service's time goes, from its own metrics (means over the run).
    const sumsAfter = await sums();
    const meanMs = (name) => (1000 * (sumsAfter[`${name}_sum`] - sumsBefore[`${name}_sum`])) / (sumsAfter[`${name}_count`] - sumsBefore[`${name}_count`]);
    result.c1.serviceCheckMeanMs = meanMs('grpc_server_handling_seconds');
    result.c1.serviceExchangeMeanMs = meanMs('authz_exchange_duration_seconds');
    log(`cold: c=1 p50 ${result.c1.latencyMs.p50.toFixed(2)} ms, ${result.c1.exchanges} exchanges for ${opts.coldC1} tokens`);
    result.herd = { tokens: opts.coldHerdTokens, perToken: 200, ...(await counted({ concurrency: 200, repeat: 200, tokensFile: files.herd })) };
    log(`cold: herd ${result.herd.exchanges} exchanges for ${opts.coldHerdTokens} tokens × 200 streams`);
    result.distinct = { tokens: opts.coldDistinct, perToken: 2, ...(await counted({ concurrency: 200, repeat: 2, tokensFile: files.distinct })) };
    log(`cold: distinct ${result.distinct.exchanges} exchanges for ${opts.coldDistinct} tokens at c=200`);
    result.split = await split(ctx, files);
    result.profile = await profileCold(ctx, files['profile-warm'], files.profile);
    return result;
  } finally {
    await control.setDelay(0);
  }
}

/**
 * The overhead at 1 stream, taken apart. Three chains, each over a server
 * whose own time is measured in its process, so each overhead is the chain's
 * p50 less that server's own p50:
 * - direct: a sequential undici client → the token endpoint (HTTP client + loopback);
 * - null: the grpc-js loader → a null ext_authz server that answers after the
 *   same delay (gRPC round trip + loader, with no service work);
 * - service: the loader → the service → the token endpoint (everything).
 * Each chain runs at exchangeDelayMs = the scenario's delay and 0, in rounds
 * that alternate chains and delays, so the machine's drifting load falls on
 * all of them alike. What a chain pays at the delay and not at 0 is the cost
 * of waking processes that slept through the delay: the machine's, not the
 * code's. The servers' CPU per call (from /proc) is far less sensitive to the
 * rest of the machine than their latency.
 */
async function split(ctx, files) {
  const { opts, log, outDir, control } = ctx;
  const nullServer = await startDelayedNullServer(outDir, ctx.as.exchangedTokenLength);
  const setNullDelay = (ms) => fetch(`${nullServer.control}/delay?ms=${ms}`, { method: 'POST' }).then((response) => response.json());
  const nullTimes = async () => (await (await fetch(`${nullServer.control}/times`, { method: 'POST' })).json()).times;
  const directTokens = readFileSync(files.direct, 'utf8').split('\n').filter(Boolean).slice(0, opts.coldSplitCalls);
  const delays = [opts.coldDelayMs, 0];
  const runs = [];
  let next = 0;
  const loaderRun = (target, tokensFile, extra = {}) => grpcRun(target, { mode: 'closed', concurrency: 1, connections: 1, order: 'once', durationS: 300, warmupS: 0, deadlineMs: 30_000, tokensFile, ...extra });
  try {
    await loaderRun(nullServer, files.direct, { order: 'cycle', maxRequests: 500 }); // the null server's JIT warm, as the service's is by now
    await nullTimes();
    for (let round = 1; round <= opts.coldSplitRounds; round++) {
      for (const delayMs of delays) {
        await control.setDelay(delayMs);
        await setNullDelay(delayMs);
        await control.tokenTimes(); // start a window
        const direct = await directExchanges(ctx.as.tokenEndpoint, directTokens);
        runs.push({ round, delayMs, chain: 'direct', p50: direct.latencyMs.p50, ownP50: median(await control.tokenTimes()), failures: direct.failures });
        const service = await loaderRun(ctx.service, files[`split-${next++}`]);
        runs.push({ round, delayMs, chain: 'service', p50: service.latencyMs.p50, ownP50: median(await control.tokenTimes()), failures: service.completed - service.ok, cpuS: service.serverCpuS, calls: service.completed, otherCores: service.otherCores });
        await nullTimes();
        const nullRun = await loaderRun(nullServer, files.direct, { maxRequests: opts.coldSplitCalls });
        runs.push({ round, delayMs, chain: 'null', p50: nullRun.latencyMs.p50, ownP50: median(await nullTimes()), failures: nullRun.completed - nullRun.ok, cpuS: nullRun.serverCpuS, calls: nullRun.completed, otherCores: nullRun.otherCores });
      }
      log(`cold: split round ${round} of ${opts.coldSplitRounds}`);
    }
  } finally {
    await nullServer.handle.stop();
  }
  const cell = (chain, delayMs) => {
    const mine = runs.filter((run) => run.chain === chain && run.delayMs === delayMs);
    return {
      p50: median(mine.map((run) => run.p50)),
      ownP50: median(mine.map((run) => run.ownP50)),
      overhead: median(mine.map((run) => run.p50 - run.ownP50)),
      overheads: mine.map((run) => run.p50 - run.ownP50),
      // /proc counts CPU in 10 ms ticks: pooled over the rounds, not a median of coarse per-run figures.
      cpuUsPerCall: (1e6 * mine.reduce((sum, run) => sum + (run.cpuS ?? NaN), 0)) / mine.reduce((sum, run) => sum + (run.calls ?? 0), 0),
      failures: mine.reduce((sum, run) => sum + run.failures, 0),
    };
  };
  const table = Object.fromEntries(['direct', 'null', 'service'].map((chain) => [chain, Object.fromEntries(delays.map((delayMs) => [delayMs, cell(chain, delayMs)]))]));
  return { rounds: opts.coldSplitRounds, calls: opts.coldSplitCalls, delays, runs, table, otherCores: median(runs.map((run) => run.otherCores)) };
}

async function startDelayedNullServer(outDir, tokenLength) {
  const handle = startProcess({
    name: 'delayed-null',
    args: [fileURLToPath(new URL('../delayed-null-server.mjs', import.meta.url)), '--token-length', String(tokenLength ?? 770)],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' },
    cwd: ROOT,
    logFile: join(outDir, 'logs', 'delayed-null.log'),
    readyPattern: /^READY (.+)$/,
  });
  const info = JSON.parse((await handle.ready)[1]);
  return { handle, pid: handle.pid, port: info.port, control: info.control, label: 'delayed-null' };
}

/**
 * A fresh service run with --cpu-prof through a cold run at 1 stream (every
 * token new, the scenario's delay), its samples attributed to the code that
 * spent them: per Check, how much main-thread time went to the gRPC transport,
 * validating the new token, oauth4webapi, undici, and the service's own modules. A first
 * run of as many new tokens warms the JIT; only the second run's window counts.
 */
async function profileCold(ctx, warmTokensFile, tokensFile) {
  const { opts, outDir, control, log } = ctx;
  const dir = join(outDir, 'prof', 'cold');
  mkdirSync(dir, { recursive: true });
  const service = await startService(outDir, serviceEnv(ctx.as), { label: 'service-cold-profiled', nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
  if (!service.started) return { error: `service did not start: ${service.output}` };
  const load = (file) => grpcRun(service, { mode: 'closed', concurrency: 1, connections: 1, order: 'once', durationS: 300, warmupS: 0, deadlineMs: 30_000, tokensFile: file });
  let run;
  // V8 stamps profiles with the monotonic clock in µs, as process.hrtime reads it here.
  const nowUs = () => Number(process.hrtime.bigint() / 1000n);
  let window;
  try {
    await control.setDelay(opts.coldDelayMs);
    await load(warmTokensFile);
    const from = nowUs();
    run = await load(tokensFile);
    window = { from, to: nowUs() };
  } finally {
    await service.handle.stop({ timeoutMs: 15_000 });
  }
  const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
  if (!file) return { error: 'no .cpuprofile written' };
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  log(`cold: profile written (${file})`);
  return {
    file: join(dir, file),
    window,
    checks: run.completed,
    ok: run.ok,
    p50: run.latencyMs.p50,
    cpuUsPerCall: run.serverCpuUsPerCall,
    owners: attributeByOwner(profile, window, run.completed),
    summary: summariseProfileFile(join(dir, file), { top: 15, skipMs: (window.from - profile.startTime) / 1000 }),
  };
}

/** Who spent a sample: the frame nearest the leaf that belongs to one of these (first match wins per frame). */
const OWNERS = [
  ['gRPC transport (grpc-js, node:http2, protobufjs)', (url, name) => url.includes('/@grpc/') || url.includes('/protobufjs/') || url.startsWith('node:internal/http2') || (!url && name.includes('$'))],
  ['HTTP client (undici)', (url) => url.includes('/node_modules/undici/')],
  ['oauth4webapi (request building)', (url) => url.includes('/oauth4webapi/')],
  ['JWT validation (jose, node:crypto)', (url) => url.includes('/jose/')],
  ['service: validation/', (url) => url.includes('/dist/validation/')],
  ['service: oauth/ (HTTP adapter, client auth)', (url) => url.includes('/dist/oauth/')],
  ['service: exchange/ (exchange, cache)', (url) => url.includes('/dist/exchange/')],
  ['service: grpc/ and check/ (handler, pipeline, answer)', (url) => url.includes('/dist/grpc/') || url.includes('/dist/check/') || url.includes('/dist/request/')],
  ['service: log, metrics, other', (url) => url.includes('/dist/') || url.includes('/prom-client/')],
  ['Fetch API objects (Response, Headers, URLSearchParams)', (url) => url.startsWith('node:internal/deps/undici') || url.startsWith('node:internal/url') || url.startsWith('node:internal/webstreams')],
];

/** CPU µs per Check by owner (see OWNERS) over the samples in `window` (monotonic µs); GC and samples with no owning frame are their own rows. */
function attributeByOwner(profile, window, checks) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const ownerOf = new Map();
  const owner = (id) => {
    if (ownerOf.has(id)) return ownerOf.get(id);
    const { functionName, url } = byId.get(id).callFrame;
    let found;
    if (functionName === '(idle)') found = 'idle';
    else if (functionName === '(garbage collector)') found = 'GC';
    else found = OWNERS.find(([, test]) => test(url, functionName))?.[0] ?? (parent.has(id) ? owner(parent.get(id)) : 'other (native, node internals, unattributed)');
    ownerOf.set(id, found);
    return found;
  };
  const us = new Map();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (at < window.from || at > window.to) continue;
    const name = owner(profile.samples[i]);
    us.set(name, (us.get(name) ?? 0) + Math.max(0, profile.timeDeltas[i + 1] ?? 0));
  }
  us.delete('idle');
  return [...us.entries()].sort((a, b) => b[1] - a[1]).map(([name, total]) => ({ owner: name, usPerCheck: total / checks }));
}

/** Sequential RFC 8693 exchanges straight at the token endpoint, one keep-alive connection (and no service). */
async function directExchanges(tokenEndpoint, tokens) {
  const agent = new Agent({ connections: 1 });
  const recorder = new LatencyRecorder(tokens.length);
  const authorization = `Basic ${Buffer.from(`${EXCHANGE_CLIENT.id}:${EXCHANGE_CLIENT.secret}`).toString('base64')}`;
  let failures = 0;
  try {
    for (const token of tokens) {
      const body = new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        resource: UPSTREAM,
        subject_token: token,
      }).toString();
      const started = performance.now();
      const response = await request(tokenEndpoint, {
        method: 'POST',
        dispatcher: agent,
        headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      const json = await response.body.json();
      recorder.record(performance.now() - started);
      if (response.statusCode !== 200 || typeof json.access_token !== 'string') failures++;
    }
  } finally {
    await agent.close();
  }
  return { calls: tokens.length, failures, latencyMs: recorder.summary() };
}
