// 100,000 distinct users: a service of its own (as shipped, LOG_LEVEL=info like
// the main one) with a cache large enough that nothing is evicted, filled
// through the bench's fast RFC 8693 endpoint (TOKEN_EXCHANGE_ENDPOINT_URL, as
// the memory scenario does: oidc-provider manages ~500 exchanges/s here), then
// closed loop c=50 cycling through every token against both null servers
// (null, null-minimal, service in one rotation) given the same request bodies.
// The tokens are minted once and shared with the memory scenario.
import { memoryOf } from '../lib/proc.mjs';
import { grpcRun, interleaved } from '../lib/runs.mjs';
import { metricSum, serviceEnv, startService } from '../lib/servers.mjs';

export async function users100k(ctx) {
  const { opts, log, outDir, control } = ctx;
  const count = opts.bigUsers;
  const { file: tokensFile, ms: mintMs } = await ctx.minted('mem', count);
  log(`users100k: ${count} tokens ready (minted in ${(mintMs / 1000).toFixed(1)} s, once for this scenario and the memory scenario)`);
  const cacheMax = count + 10_000;
  const env = serviceEnv(ctx.as, { EXCHANGE_CACHE_MAX: String(cacheMax), TOKEN_EXCHANGE_ENDPOINT_URL: control.fastTokenEndpoint });
  const service = await startService(outDir, env, { label: 'service-100k' });
  if (!service.started) throw new Error(`service-100k did not start: ${JSON.stringify(service.exit)}\n${service.output}`);
  try {
    const fastBefore = (await control.state()).fastExchanges;
    const warmStarted = performance.now();
    const warm = await grpcRun(service, { mode: 'closed', concurrency: 64, connections: 1, order: 'once', durationS: 900, warmupS: 0, deadlineMs: 60_000, tokensFile });
    const warmS = (performance.now() - warmStarted) / 1000;
    const exchanges = (await control.state()).fastExchanges - fastBefore;
    log(`users100k: warmed ${warm.ok} tokens in ${warmS.toFixed(1)} s (${exchanges} exchanges)`);

    const target = { ...service, label: 'service' };
    const missesBefore = metricSum(await service.metrics(), 'authz_exchange_cache_misses_total');
    const runs = await interleaved([ctx.null, ctx.nullMinimal, target], opts.lightReps, (t) =>
      grpcRun(t, { mode: 'closed', concurrency: 50, connections: 1, durationS: opts.durationS, warmupS: opts.warmupS, tokensFile }),
    );
    const missesDuring = metricSum(await service.metrics(), 'authz_exchange_cache_misses_total') - missesBefore;
    log(`users100k: ${missesDuring} cache misses during the measured runs`);
    return {
      count,
      cacheMax,
      mintMs,
      warm: { ok: warm.ok, notOk: warm.notOk, errors: warm.errors, seconds: warmS, exchanges, serverCpuUsPerCall: warm.serverCpuUsPerCall },
      rssKiBAfter: memoryOf(service.pid).rssKiB,
      missesDuring,
      runs,
    };
  } finally {
    await service.handle.stop();
  }
}
