// CPU profiles of the cache-hit path: a fresh service and a fresh null server,
// each run with --cpu-prof under the same cache-hit load, summarised by self time.
import { readdirSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { summariseProfileFile } from '../cpuprofile-summary.mjs';
import { grpcRun, h2loadRun } from '../lib/runs.mjs';
import { serviceEnv, startNullServer, startService } from '../lib/servers.mjs';

export async function profile(ctx, { tokensFile, dataFile }) {
  const { opts, log, outDir } = ctx;
  const result = { seconds: opts.profileS, loader: ctx.h2load ? 'h2load c=50 (1 connection × 50 streams)' : 'grpc-js closed loop c=50' };
  const load = (target) =>
    ctx.h2load
      ? h2loadRun(target, { dataFile, connections: 1, streams: 50, durationS: opts.profileS, warmupS: 1 })
      : grpcRun(target, { mode: 'closed', concurrency: 50, connections: 1, durationS: opts.profileS, warmupS: 1, tokensFile });

  for (const kind of ['service', 'null']) {
    const dir = join(outDir, 'prof', kind);
    mkdirSync(dir, { recursive: true });
    const nodeArgs = ['--cpu-prof', `--cpu-prof-dir=${dir}`];
    const target =
      kind === 'service'
        ? await startService(outDir, serviceEnv(ctx.as, { EXCHANGE_CACHE_MAX: '20000' }), { label: 'service-profiled', nodeArgs })
        : await startNullServer(outDir, { tokenLength: ctx.as.exchangedTokenLength, label: 'null-profiled', nodeArgs });
    if (kind === 'service' && !target.started) {
      result[kind] = { error: `service did not start: ${target.output}` };
      continue;
    }
    try {
      await grpcRun(target, { mode: 'closed', concurrency: 1, order: 'once', durationS: 10, warmupS: 0, tokensFile }); // exchange + cache
      // Samples before this point (start-up, module loading, the first exchange, the load's own 1 s warm-up) are left out.
      const skipMs = performance.now() - target.handle.spawnedAt + 1000;
      const run = await load(target);
      result[kind] = { skipMs, run: { rps: run.rps, serverCpuUsPerCall: run.serverCpuUsPerCall } };
    } finally {
      await target.handle.stop({ timeoutMs: 15_000 });
    }
    const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
    if (!file) {
      result[kind].error = 'no .cpuprofile written';
      continue;
    }
    result[kind].file = join(dir, file);
    result[kind].summary = summariseProfileFile(join(dir, file), { top: 20, skipMs: result[kind].skipMs });
    log(`profile: ${kind} written (${file})`);
  }
  return result;
}
