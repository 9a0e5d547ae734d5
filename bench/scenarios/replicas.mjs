// Replicas: two service processes behind one Redis (REDIS_URL, SPEC §4b) and,
// for comparison, two without it. Reports
//   - exchanges per token when distinct tokens reach both replicas (goal 1.00 with the shared tier);
//   - a local cache hit's speed with the tier on and off, each as a ratio against the null server;
//   - the latency of a shared hit (local miss, Redis hit) against a local hit, at 1 stream.
import { join } from 'node:path';
import { metricSum, serviceEnv, startService } from '../lib/servers.mjs';
import { grpcRun, interleaved } from '../lib/runs.mjs';
import { redisServerInstalled, startRedis, writeCacheKeys } from '../lib/redis.mjs';
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
      exchangesDuringSharedRun: (await ctx.control.state()).exchanges - beforeExchanges,
      sharedHitsCounted: metricSum(after, 'authz_shared_cache_hits_total') - metricSum(before, 'authz_shared_cache_hits_total'),
      redisLookupMeanMs: (1000 * (metricSum(after, 'authz_shared_cache_duration_seconds_sum') - metricSum(before, 'authz_shared_cache_duration_seconds_sum'))) /
        (metricSum(after, 'authz_shared_cache_duration_seconds_count') - metricSum(before, 'authz_shared_cache_duration_seconds_count')),
    };
    log(`replicas: shared hit p50 ${sharedHits.latencyMs.p50} ms, local hit p50 ${localHits.latencyMs.p50} ms`);
    return result;
  } finally {
    for (const service of started) await service.handle.stop();
    await redis.handle.stop();
  }
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
