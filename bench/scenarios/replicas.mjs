// Replicas: two service processes behind one Redis (REDIS_URL, SPEC §4b) and,
// for comparison, two without it. Reports
//   - exchanges per token when distinct tokens reach both replicas (goal 1.00 with the shared tier);
//   - a local cache hit's speed with the tier on and off, each as a ratio against the null server;
//   - the latency of a shared hit (local miss, Redis hit) against a local hit, at 1 stream;
//   - the capacity model's measured point: two fresh replicas sharing Redis under
//     closed-loop load through N new tokens (checks/s, CPU, RSS, Redis commands/s,
//     exchanges/s; docs/capacity.md).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { memoryOf, cpuSeconds } from '../lib/proc.mjs';
import { metricSum, serviceEnv, startService } from '../lib/servers.mjs';
import { grpcRun, interleaved } from '../lib/runs.mjs';
import { redisCommandCounts, redisServerInstalled, startRedis, writeCacheKeys } from '../lib/redis.mjs';
import { paired } from '../report.mjs';

export async function replicas(ctx, { tokensFile: hitTokens }) {
  const { opts, log, outDir } = ctx;
  if (!redisServerInstalled()) return { measured: false, reason: 'not measured: redis-server is not installed (apt-get install redis-server)' };
  const redis = await startRedis(outDir);
  const keys = writeCacheKeys(outDir);
  const env = (shared) => serviceEnv(ctx.as, { EXCHANGE_CACHE_MAX: '20000', ...(shared ? { REDIS_URL: redis.url, CACHE_KEYS_FILE: keys } : {}) });
  const started = [];
  const start = async (label, shared) => {
    const service = await startService(outDir, env(shared), { label });
    if (!service.started) throw new Error(`${label} did not start: ${JSON.stringify(service.exit)} ${service.output}`);
    started.push(service);
    return { ...service, label };
  };
  try {
    const pairs = { off: [await start('replica-a-off', false), await start('replica-b-off', false)], on: [await start('replica-a-on', true), await start('replica-b-on', true)] };
    const count = opts.replicaTokens;
    const result = { measured: true, tokens: count, exchangesPerToken: {}, hit: {}, latency: {} };

    // 1. Exchanges per token: every token reaches both replicas, first one after the other, then both at once.
    for (const [mode, [a, b]] of Object.entries(pairs)) {
      for (const order of ['sequential', 'concurrent']) {
        const file = join(outDir, `tokens-replicas-${mode}-${order}.txt`);
        await ctx.control.mint(count, `replicas-${mode}-${order}`, file);
        const before = (await ctx.control.state()).exchanges;
        const run = (target) => grpcRun(target, { mode: 'closed', concurrency: 20, connections: 1, order: 'once', durationS: 600, warmupS: 0, tokensFile: file, deadlineMs: 30_000 });
        const runs = order === 'sequential' ? [await run(a), await run(b)] : await Promise.all([run(a), run(b)]);
        const exchanges = (await ctx.control.state()).exchanges - before;
        const sharedErrors = mode === 'on' ? Object.assign({}, ...(await Promise.all([a, b].map(async (r) => ({ [r.label]: errorsByReason(await r.metrics()) }))))) : undefined;
        result.exchangesPerToken[`${mode}-${order}`] = { exchanges, perToken: exchanges / count, ok: runs.reduce((sum, r) => sum + r.ok, 0), checks: 2 * count, sharedErrors };
        log(`replicas: shared tier ${mode}, ${order}: ${exchanges} exchanges for ${count} tokens`);
      }
    }

    // 2. A local hit's speed, tier off and on, interleaved with the null server.
    const off = pairs.off[0];
    const on = pairs.on[0];
    for (const target of [off, on]) await grpcRun(target, { mode: 'closed', concurrency: 50, connections: 1, durationS: 2, warmupS: 0, tokensFile: hitTokens });
    const runs = await interleaved([ctx.null, { ...off, label: 'off' }, { ...on, label: 'on' }], opts.reps, (target) =>
      grpcRun(target, { mode: 'closed', concurrency: 50, connections: 1, durationS: opts.durationS, warmupS: opts.warmupS, tokensFile: hitTokens }),
    );
    const against = (label) => paired(runs.filter((r) => r.target === 'null' || r.target === label).map((r) => (r.target === label ? { ...r, target: 'service' } : r)), (r) => r.rps);
    result.hit = { runs, off: against('off'), on: against('on') };

    // 3. Shared hit vs local hit at 1 stream: tokens exchanged through replica A, then read by B (shared hits), then by B again (local hits).
    const [a, b] = pairs.on;
    const file = join(outDir, 'tokens-replicas-latency.txt');
    await ctx.control.mint(opts.replicaLatencyTokens, 'replicas-latency', file);
    const once = (target) => grpcRun(target, { mode: 'closed', concurrency: 1, connections: 1, order: 'once', durationS: 600, warmupS: 0, tokensFile: file, deadlineMs: 30_000 });
    await once(a);
    const before = await b.metrics();
    const beforeExchanges = (await ctx.control.state()).exchanges;
    const sharedHits = await once(b);
    const after = await b.metrics();
    const localHits = await once(b);
    result.latency = {
      tokens: opts.replicaLatencyTokens,
      shared: sharedHits.latencyMs,
      local: localHits.latencyMs,
      sharedCpuUsPerCall: sharedHits.serverCpuUsPerCall,
      localCpuUsPerCall: localHits.serverCpuUsPerCall,
      exchangesDuringSharedRun: (await ctx.control.state()).exchanges - beforeExchanges,
      sharedHitsCounted: metricSum(after, 'authz_shared_cache_hits_total') - metricSum(before, 'authz_shared_cache_hits_total'),
      redisLookupMeanMs: (1000 * (metricSum(after, 'authz_shared_cache_duration_seconds_sum') - metricSum(before, 'authz_shared_cache_duration_seconds_sum'))) /
        (metricSum(after, 'authz_shared_cache_duration_seconds_count') - metricSum(before, 'authz_shared_cache_duration_seconds_count')),
    };
    log(`replicas: shared hit p50 ${sharedHits.latencyMs.p50} ms, local hit p50 ${localHits.latencyMs.p50} ms`);

    // 3b. The CPU of a shared hit against a local hit, at 20 streams (at 1 stream the process's own background work weighs on each call).
    const cpuFile = join(outDir, 'tokens-replicas-cpu.txt');
    await ctx.control.mint(opts.replicaCpuTokens, 'replicas-cpu', cpuFile);
    const pass = (target) => grpcRun(target, { mode: 'closed', concurrency: 20, connections: 1, order: 'once', durationS: 600, warmupS: 0, tokensFile: cpuFile, deadlineMs: 30_000 });
    await pass(a);
    const sharedPass = await pass(b);
    const localPass = await pass(b);
    result.cpu = { tokens: opts.replicaCpuTokens, concurrency: 20, sharedUsPerCall: sharedPass.serverCpuUsPerCall, localUsPerCall: localPass.serverCpuUsPerCall, ok: sharedPass.ok + localPass.ok };
    log(`replicas: CPU per shared hit ${Math.round(result.cpu.sharedUsPerCall)} µs, per local hit ${Math.round(result.cpu.localUsPerCall)} µs (20 streams)`);

    // 4. The capacity model's measured point, on two fresh replicas.
    result.point = await capacityPoint(ctx, { redis, start, hitTokens });
    log(`replicas: capacity point ${Math.round(result.point.checksPerS)} checks/s, ${result.point.exchangesPerS.toFixed(0)} exchanges/s, ${result.point.redisOpsPerS.toFixed(0)} Redis commands/s`);
    return result;
  } finally {
    for (const service of started) await service.handle.stop();
    await redis.handle.stop();
  }
}

/**
 * Two fresh replicas sharing Redis, warmed (JIT, connections: the cache-hit
 * token, then 100 other new tokens through both, which exercises exchanges and
 * shared hits), then each driven by its own grpc-js loader (closed loop, 25
 * streams each) for `pointDurationS`, cycling through the same `pointUsers` new
 * tokens; replica B starts half-way through the list, as a round-robin spread
 * would bring a user's first Checks to different replicas at different moments.
 * Every figure is over the same window, from outside the service: the loaders'
 * answers, /proc, Redis `INFO`, the authorization server.
 */
async function capacityPoint(ctx, { redis, start, hitTokens }) {
  const { opts, outDir, control } = ctx;
  const a = await start('replica-a-point', true);
  const b = await start('replica-b-point', true);
  const warmFile = join(outDir, 'tokens-point-warm.txt');
  await control.mint(100, 'point-warm', warmFile);
  for (const replica of [a, b]) {
    await grpcRun(replica, { mode: 'closed', concurrency: 25, connections: 1, durationS: 2, warmupS: 0, tokensFile: hitTokens });
    await grpcRun(replica, { mode: 'closed', concurrency: 10, connections: 1, order: 'once', durationS: 60, warmupS: 0, deadlineMs: 30_000, tokensFile: warmFile });
  }
  const idleRssKiB = [memoryOf(a.pid).rssKiB, memoryOf(b.pid).rssKiB];
  const users = opts.pointUsers;
  const fileA = join(outDir, 'tokens-point-a.txt');
  await control.mint(users, 'point', fileA);
  const tokens = readFileSync(fileA, 'utf8').split('\n').filter(Boolean);
  const fileB = join(outDir, 'tokens-point-b.txt');
  writeFileSync(fileB, [...tokens.slice(users >> 1), ...tokens.slice(0, users >> 1)].join('\n') + '\n');

  const metricsOf = async () => Promise.all([a.metrics(), b.metrics()]);
  const sum = (pair, name) => metricSum(pair[0], name) + metricSum(pair[1], name);
  const beforeMetrics = await metricsOf();
  const beforeRedis = await redisCommandCounts(redis.port);
  const beforeExchanges = (await control.state()).exchanges;
  const beforeCpu = cpuSeconds(a.pid) + cpuSeconds(b.pid);
  const started = performance.now();
  const load = (target, tokensFile) => grpcRun(target, { mode: 'closed', concurrency: 25, connections: 1, durationS: opts.pointDurationS, warmupS: 0, deadlineMs: 30_000, tokensFile });
  const runs = await Promise.all([load(a, fileA), load(b, fileB)]);
  const wallS = (performance.now() - started) / 1000;
  const cpuS = cpuSeconds(a.pid) + cpuSeconds(b.pid) - beforeCpu;
  const exchanges = (await control.state()).exchanges - beforeExchanges;
  const afterRedis = await redisCommandCounts(redis.port);
  const afterMetrics = await metricsOf();
  const rss = [memoryOf(a.pid).rssKiB, memoryOf(b.pid).rssKiB];
  const delta = (name) => sum(afterMetrics, name) - sum(beforeMetrics, name);
  const calls = (name) => (afterRedis.calls[name] ?? 0) - (beforeRedis.calls[name] ?? 0);
  // The window: the longer of the two loaders' (each from its first send to its last answer).
  const windowS = Math.max(...runs.map((run) => run.windowS));
  const checks = runs.reduce((total, run) => total + run.completed, 0);
  // INFO itself is counted by Redis: leave our own reads out.
  const redisOps = afterRedis.total - beforeRedis.total - calls('info');
  return {
    replicas: 2,
    users,
    durationS: opts.pointDurationS,
    windowS,
    wallS,
    checks,
    ok: runs.reduce((total, run) => total + run.ok, 0),
    checksPerS: checks / windowS,
    cpuS,
    cores: cpuS / wallS,
    cpuUsPerCheck: (cpuS * 1e6) / checks,
    idleRssKiB,
    rssKiB: rss,
    exchanges,
    exchangesPerS: exchanges / windowS,
    redis: { mget: calls('mget'), set: calls('set'), total: redisOps, usedMemoryGrowth: afterRedis.usedMemory - beforeRedis.usedMemory },
    redisOpsPerS: redisOps / windowS,
    localMisses: delta('authz_exchange_cache_misses_total'),
    sharedHits: delta('authz_shared_cache_hits_total'),
    runs,
  };
}

/** `authz_shared_cache_errors_total` by reason, since the process started. */
function errorsByReason(metrics) {
  const reasons = {};
  for (const [key, value] of Object.entries(metrics)) {
    const match = /^authz_shared_cache_errors_total\{reason="([^"]+)"\}$/.exec(key);
    if (match) reasons[match[1]] = value;
  }
  return reasons;
}
