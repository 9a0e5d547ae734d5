// Many users: N distinct valid tokens, all exchanged and cached first (through
// the real authorization server), then closed-loop c=50 cycling through them.
// The null server gets the same N request bodies. Cache misses during the
// measured runs are read from the service's /metrics (should be 0).
import { join } from 'node:path';
import { metricSum } from '../lib/servers.mjs';
import { grpcRun, interleaved } from '../lib/runs.mjs';

export async function manyUsers(ctx) {
  const { opts, log, outDir } = ctx;
  const count = opts.manyUsers;
  const tokensFile = join(outDir, 'tokens-many.txt');
  const minted = await ctx.control.mint(count, 'user', tokensFile);
  log(`many-users: minted ${count} tokens in ${Math.round(minted.ms)} ms; warming the cache`);

  const before = await ctx.control.state();
  const warmStarted = performance.now();
  const warm = await grpcRun(ctx.service, { mode: 'closed', concurrency: 50, connections: 1, order: 'once', durationS: 600, warmupS: 0, tokensFile, deadlineMs: 30_000 });
  const warmS = (performance.now() - warmStarted) / 1000;
  const exchanges = (await ctx.control.state()).exchanges - before.exchanges;
  log(`many-users: warmed in ${warmS.toFixed(1)} s: ${warm.ok} OK, ${exchanges} exchanges`);

  const missesBefore = metricSum(await ctx.service.metrics(), 'authz_exchange_cache_misses_total');
  const runs = await interleaved([ctx.null, ctx.service], opts.lightReps, (target) =>
    grpcRun(target, { mode: 'closed', concurrency: 50, connections: 1, durationS: opts.durationS, warmupS: opts.warmupS, tokensFile }),
  );
  const missesDuring = metricSum(await ctx.service.metrics(), 'authz_exchange_cache_misses_total') - missesBefore;
  return { count, mintMs: minted.ms, warm: { ok: warm.ok, notOk: warm.notOk, errors: warm.errors, seconds: warmS, exchanges }, missesDuring, runs };
}
