// Worker mode: when the service has a WORKERS setting, the service with
// WORKERS=2 against the null server in the same 2-worker node:cluster mode,
// over 2 HTTP/2 connections (one per worker, round-robin).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { verifyFramedBody } from '../lib/grpc-wire.mjs';
import { processTree } from '../lib/proc.mjs';
import { grpcRun, h2loadRun, interleaved } from '../lib/runs.mjs';
import { distDir } from '../lib/dist.mjs';
import { serviceEnv, startNullServer, startService } from '../lib/servers.mjs';

/**
 * Does the build being measured (the dist/ snapshot, compiled from src/config/settings.ts)
 * declare a WORKERS environment variable? (BENCH_ASSUME_WORKERS=1 runs the scenario
 * anyway, to test the bench itself; a service without the setting then runs one
 * process and the report says so.)
 */
export function serviceHasWorkersSetting() {
  if (process.env.BENCH_ASSUME_WORKERS === '1') return true;
  const dir = join(distDir(), 'config');
  try {
    return readdirSync(dir).some((name) => name.endsWith('.js') && /env:\s*['"]WORKERS['"]/.test(readFileSync(join(dir, name), 'utf8')));
  } catch {
    return false;
  }
}

export async function workers(ctx, { tokensFile, dataFile, frame }) {
  const { opts, log, outDir } = ctx;
  if (!serviceHasWorkersSetting()) return { measured: false, reason: 'not measured: the build measured has no WORKERS setting (no `env: \'WORKERS\'` in dist/config/*.js of the snapshot)' };
  const service = await startService(outDir, serviceEnv(ctx.as, { WORKERS: '2', EXCHANGE_CACHE_MAX: '20000' }), { label: 'service-workers' });
  if (!service.started) return { measured: false, reason: 'not measured: the service did not start with WORKERS=2', output: service.output.split('\n').slice(-3).join(' | ') };
  const nullServer = await startNullServer(outDir, { workers: 2, tokenLength: ctx.as.exchangedTokenLength, label: 'null-workers' });
  try {
    const targets = [
      { ...nullServer, label: 'null' },
      { ...service, label: 'service' },
    ];
    const verification = {};
    for (const target of targets) verification[target.label] = await verifyFramedBody(target.port, frame);
    // Warm every worker's cache and JIT (several connections, so both workers get some).
    for (const target of targets) await grpcRun(target, { mode: 'closed', concurrency: 50, connections: 4, durationS: 2, warmupS: 0, tokensFile });
    log('workers: measuring WORKERS=2');
    const serviceProcesses = processTree(service.pid).length;
    const result = { measured: true, serviceProcesses, nullProcesses: processTree(nullServer.pid).length, verification, grpc: {}, h2load: {} };
    // h2load when installed (the lighter load generator), else the grpc-js loader.
    if (ctx.h2load) {
      result.h2load.c50 = await interleaved(targets, opts.lightReps, (target) =>
        h2loadRun(target, { dataFile, connections: 2, streams: 25, durationS: opts.durationS, warmupS: opts.warmupS }),
      );
    } else {
      result.grpc.c50 = await interleaved(targets, opts.lightReps, (target) =>
        grpcRun(target, { mode: 'closed', concurrency: 50, connections: 2, durationS: opts.durationS, warmupS: opts.warmupS, tokensFile }),
      );
    }
    return result;
  } finally {
    await service.handle.stop();
    await nullServer.handle.stop();
  }
}
