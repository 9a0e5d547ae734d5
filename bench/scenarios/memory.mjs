// Memory: resident set of a fresh service process after N distinct tokens are
// validated and their exchanges cached (N = 100,000 by default).
//
// Method: the inbound tokens are real RS256 tokens signed by the bench
// authorization server (minted in its process) and verified by the service
// against its real JWKS. Only the exchange is answered by the bench's fast
// RFC 8693 endpoint (TOKEN_EXCHANGE_ENDPOINT_URL), which returns unique tokens
// of a real exchanged token's length: oidc-provider manages ~500 exchanges/s
// on this machine, so 100,000 real exchanges would take minutes.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fromDist } from '../lib/dist.mjs';
import { memoryOf } from '../lib/proc.mjs';
import { grpcRun } from '../lib/runs.mjs';
import { metricSum, serviceEnv, startService } from '../lib/servers.mjs';

const TARGET_ENTRIES = 100_000;

/** VmRSS / VmHWM as an operator sees them, V8's heap figures, then the same after a forced full GC. */
async function memoryReadings(service) {
  const asIs = memoryOf(service.pid);
  const snapshot = await service.eldSnapshot(); // runs gc() after reading process.memoryUsage()
  const afterGc = memoryOf(service.pid);
  return { ...asIs, heap: snapshot.memory, heapAfterGc: snapshot.memoryAfterGc, rssAfterGcKiB: afterGc.rssKiB };
}

export async function memory(ctx) {
  const { opts, log, outDir, control } = ctx;
  const count = opts.memoryTokens;
  const probeFile = join(outDir, 'tokens-memory-probe.txt');
  await control.mint(1, 'mem-probe', probeFile);
  // The same set as the users100k scenario when the sizes are equal (minted once).
  const { file: tokensFile, ms } = await ctx.minted('mem', count);
  const minted = { ms };
  log(`memory: ${count} tokens minted in ${(minted.ms / 1000).toFixed(1)} s`);

  const cacheMax = Math.max(count, TARGET_ENTRIES) + 10_000;
  const shipped = await measure(ctx, { count, cacheMax, minted, probeFile, tokensFile, label: 'service-memory', extraEnv: {} });
  if (shipped.error) return shipped;
  // The same fill with V8's own heap sizing (HEAP_GROWING_PERCENT=0), to show what the setting buys.
  log('memory: again with HEAP_GROWING_PERCENT=0 (V8 heuristics)');
  const v8Default = await measure(ctx, { count, cacheMax, minted, probeFile, tokensFile, label: 'service-memory-v8-default', extraEnv: { HEAP_GROWING_PERCENT: '0' } });
  // The shipped heap sizing (README "Memory"), the defaults of the build under test.
  const { SERVICE_SETTINGS } = await fromDist('config/settings.js');
  const heap = { growingPercent: Number(SERVICE_SETTINGS.heapGrowingPercent.default), limitFloorMb: Number(SERVICE_SETTINGS.heapLimitFloorMb.default) };
  return { ...shipped, heap, v8Default: v8Default.error ? { error: v8Default.error } : { rssMiBAt100k: v8Default.rssMiBAt100k, baselineRssKiB: v8Default.baseline.rssKiB, afterRssKiB: v8Default.after.rssKiB, heapTotal: v8Default.after.heap.heapTotal, heapUsed: v8Default.after.heap.heapUsed } };
}

async function measure(ctx, { count, cacheMax, minted, probeFile, tokensFile, label, extraEnv }) {
  const { log, outDir, control } = ctx;
  // LOG_LEVEL=warn: the build may log every Check at info; that costs time here and holds no memory.
  const env = serviceEnv(ctx.as, { EXCHANGE_CACHE_MAX: String(cacheMax), TOKEN_EXCHANGE_ENDPOINT_URL: control.fastTokenEndpoint, LOG_LEVEL: 'warn', ...extraEnv });
  const service = await startService(outDir, env, { label, eld: true, gc: true });
  if (!service.started) return { error: `service did not start: ${JSON.stringify(service.exit)}\n${service.output}` };
  try {
    await grpcRun(service, { mode: 'closed', concurrency: 1, order: 'once', durationS: 30, warmupS: 0, tokensFile: probeFile });
    await sleep(1000);
    const baseline = await memoryReadings(service);

    const fastBefore = (await control.state()).fastExchanges;
    const started = performance.now();
    const warm = await grpcRun(service, { mode: 'closed', concurrency: 64, connections: 1, order: 'once', durationS: 900, warmupS: 0, deadlineMs: 60_000, tokensFile });
    const warmS = (performance.now() - started) / 1000;
    const exchanges = (await control.state()).fastExchanges - fastBefore;
    log(`memory: warmed ${warm.ok} tokens in ${warmS.toFixed(1)} s (${exchanges} exchanges)`);
    await sleep(2000);
    const afterRss = memoryOf(service.pid); // as an operator sees it, 2 s after the last Check
    await sleep(5000);
    const after = { ...(await memoryReadings(service)), rssKiB: afterRss.rssKiB, hwmKiB: afterRss.hwmKiB, rssAfterIdleKiB: memoryOf(service.pid).rssKiB };
    const metrics = await service.metrics();

    // The oldest 1,000 entries must still be cached (no eviction): re-check them, count new misses.
    const oldestFile = join(outDir, 'tokens-memory-oldest.txt');
    writeFileSync(oldestFile, readFileSync(tokensFile, 'utf8').split('\n').slice(0, 1000).join('\n') + '\n');
    const missesBefore = metricSum(metrics, 'authz_exchange_cache_misses_total');
    const recheck = await grpcRun(service, { mode: 'closed', concurrency: 10, order: 'once', durationS: 60, warmupS: 0, tokensFile: oldestFile });
    const recheckMisses = metricSum(await service.metrics(), 'authz_exchange_cache_misses_total') - missesBefore;

    const perEntryBytes = ((after.rssKiB - baseline.rssKiB) * 1024) / count;
    const perEntryHeapBytes = after.heapAfterGc && baseline.heapAfterGc ? (after.heapAfterGc.heapUsed - baseline.heapAfterGc.heapUsed) / count : NaN;
    const at100k = count === TARGET_ENTRIES ? after.rssKiB / 1024 : (baseline.rssKiB * 1024 + perEntryBytes * TARGET_ENTRIES) / 1024 / 1024;
    return {
      count,
      cacheMax,
      mintMs: minted.ms,
      warmS,
      warm: { ok: warm.ok, notOk: warm.notOk, errors: warm.errors, rps: warm.rps, serverCpuUsPerCall: warm.serverCpuUsPerCall },
      exchanges,
      cacheMisses: missesBefore,
      recheck: { tokens: 1000, ok: recheck.ok, misses: recheckMisses },
      baseline,
      after,
      perEntryBytes,
      perEntryHeapBytes,
      rssMiBAt100k: at100k,
      extrapolated: count !== TARGET_ENTRIES,
    };
  } finally {
    await service.handle.stop();
  }
}
