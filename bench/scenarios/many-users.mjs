// Many users: N distinct valid tokens, all exchanged and cached first (through
// the real authorization server), then closed-loop c=50 cycling through them,
// against both null servers (null, null-minimal, service in one rotation); the
// same 50 streams split over two loader processes; then an open loop at a
// fixed fraction (0.9) of the null server's closed-loop rate, latency from the
// scheduled send time. The null servers get the same N request
// bodies. Cache misses during the measured runs are read from the service's
// /metrics (should be 0).
import { metricSum } from '../lib/servers.mjs';
import { grpcRun, grpcRunSplit, interleaved } from '../lib/runs.mjs';
import { median } from '../lib/stats.mjs';

export async function manyUsers(ctx) {
  const { opts, log } = ctx;
  const count = opts.manyUsers;
  const { file: tokensFile, ms: mintMs } = await ctx.minted('user', count);
  log(`many-users: ${count} tokens minted in ${Math.round(mintMs)} ms; warming the cache`);

  const before = await ctx.control.state();
  const warmStarted = performance.now();
  const warm = await grpcRun(ctx.service, { mode: 'closed', concurrency: 50, connections: 1, order: 'once', durationS: 600, warmupS: 0, tokensFile, deadlineMs: 30_000 });
  const warmS = (performance.now() - warmStarted) / 1000;
  const exchanges = (await ctx.control.state()).exchanges - before.exchanges;
  log(`many-users: warmed in ${warmS.toFixed(1)} s: ${warm.ok} OK, ${exchanges} exchanges`);

  const targets = [ctx.null, ctx.nullMinimal, ctx.service];
  const missesBefore = metricSum(await ctx.service.metrics(), 'authz_exchange_cache_misses_total');
  const runs = await interleaved(targets, opts.lightReps, (target) =>
    grpcRun(target, { mode: 'closed', concurrency: 50, connections: 1, durationS: opts.durationS, warmupS: opts.warmupS, tokensFile }),
  );

  // The same 50 streams over two loader processes: one grpc-js loader process (and its one connection) can be what
  // sets the rate (bench/RESULTS.md, "Analysis of the misses"); two show what the servers themselves sustain.
  const split = await interleaved(targets, opts.lightReps, (target) =>
    grpcRunSplit(target, { mode: 'closed', concurrency: 50, connections: 1, durationS: opts.durationS, warmupS: opts.warmupS, tokensFile }, 2),
  );

  // Open loop at a fraction of the null server's closed-loop rate in this run, every target at the same schedule.
  const nullRps = median(runs.filter((run) => run.target === 'null').map((run) => run.rps));
  const rate = Math.max(10, Math.round(opts.openLoopFraction * nullRps));
  log(`many-users: open loop at ${rate}/s (${opts.openLoopFraction} × ${Math.round(nullRps)} rps)`);
  const open = await interleaved(targets, opts.lightReps, (target) =>
    grpcRun(target, { mode: 'open', rate, connections: 1, durationS: opts.durationS, warmupS: 1.5, tokensFile }),
  );
  const missesDuring = metricSum(await ctx.service.metrics(), 'authz_exchange_cache_misses_total') - missesBefore;
  return {
    count,
    mintMs,
    warm: { ok: warm.ok, notOk: warm.notOk, errors: warm.errors, seconds: warmS, exchanges, serverCpuUsPerCall: warm.serverCpuUsPerCall },
    missesDuring,
    runs,
    twoLoaders: split,
    openLoop: { fraction: opts.openLoopFraction, nullRps, rate, runs: open },
  };
}
