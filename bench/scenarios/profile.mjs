// CPU profiles: a fresh service and a fresh null server, each run with
// --cpu-prof under the same load, summarised by self time. Two loads: the
// cache-hit path (one token; h2load when installed, and the grpc-js loader so
// that it compares with the next) and many users (N distinct cached tokens,
// grpc-js loader c=50; the minimal null server too). For many users the profiled
// service fills its cache through the bench's fast exchange endpoint
// (TOKEN_EXCHANGE_ENDPOINT_URL), which leaves the cache-hit path as shipped.
import { readdirSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { summariseProfileFile } from '../cpuprofile-summary.mjs';
import { grpcRun, h2loadRun } from '../lib/runs.mjs';
import { serviceEnv, startNullServer, startService } from '../lib/servers.mjs';

export async function profile(ctx, { tokensFile, dataFile }) {
  const { opts } = ctx;
  const result = { seconds: opts.profileS, loader: ctx.h2load ? 'h2load c=50 (1 connection × 50 streams)' : 'grpc-js closed loop c=50' };
  const oneToken = (target) =>
    ctx.h2load
      ? h2loadRun(target, { dataFile, connections: 1, streams: 50, durationS: opts.profileS, warmupS: 1 })
      : grpcRun(target, { mode: 'closed', concurrency: 50, connections: 1, durationS: opts.profileS, warmupS: 1, tokensFile });
  const warmOne = (target) => grpcRun(target, { mode: 'closed', concurrency: 1, order: 'once', durationS: 10, warmupS: 0, tokensFile }); // exchange + cache
  for (const kind of ['service', 'null']) result[kind] = await profiled(ctx, { kind, dir: kind, warm: warmOne, load: oneToken });
  const oneTokenGrpc = (target) => grpcRun(target, { mode: 'closed', concurrency: 50, connections: 1, durationS: opts.profileS, warmupS: 1, tokensFile });
  result.oneTokenGrpc = { loader: 'grpc-js closed loop c=50 (1 connection)' };
  for (const kind of ['service', 'null']) result.oneTokenGrpc[kind] = ctx.h2load ? await profiled(ctx, { kind, dir: `one-grpc-${kind}`, warm: warmOne, load: oneTokenGrpc }) : result[kind];

  const { file: usersFile } = await ctx.minted('user', opts.manyUsers);
  const manyLoad = (target) => grpcRun(target, { mode: 'closed', concurrency: 50, connections: 1, durationS: opts.profileS, warmupS: 1, tokensFile: usersFile });
  const warmMany = (target) => grpcRun(target, { mode: 'closed', concurrency: 50, connections: 1, order: 'once', durationS: 300, warmupS: 0, deadlineMs: 30_000, tokensFile: usersFile });
  result.manyUsers = { users: opts.manyUsers, loader: 'grpc-js closed loop c=50 (1 connection), cycling through every token' };
  for (const kind of ['service', 'null', 'null-minimal']) result.manyUsers[kind] = await profiled(ctx, { kind, dir: `many-${kind}`, warm: warmMany, load: manyLoad });
  return result;
}

/** One fresh process of `kind` under --cpu-prof: warm it, then load it; the summary covers the load only. */
async function profiled(ctx, { kind, dir: name, warm, load }) {
  const { log, outDir, opts } = ctx;
  const dir = join(outDir, 'prof', name);
  mkdirSync(dir, { recursive: true });
  const nodeArgs = ['--cpu-prof', `--cpu-prof-dir=${dir}`];
  const many = name.startsWith('many-');
  const target =
    kind === 'service'
      ? await startService(
          outDir,
          serviceEnv(ctx.as, { EXCHANGE_CACHE_MAX: String(Math.max(20_000, opts.manyUsers + 10_000)), ...(many ? { TOKEN_EXCHANGE_ENDPOINT_URL: ctx.control.fastTokenEndpoint } : {}) }),
          { label: `${name}-profiled`, nodeArgs },
        )
      : await startNullServer(outDir, { tokenLength: ctx.as.exchangedTokenLength, label: `${name}-profiled`, nodeArgs, minimal: kind === 'null-minimal' });
  if (kind === 'service' && !target.started) return { error: `service did not start: ${target.output}` };
  let out;
  try {
    await warm(target);
    // Samples before this point (start-up, module loading, the warm-up, the load's own 1 s warm-up) are left out.
    const skipMs = performance.now() - target.handle.spawnedAt + 1000;
    const run = await load(target);
    out = { skipMs, run: { rps: run.rps, serverCpuUsPerCall: run.serverCpuUsPerCall } };
  } finally {
    await target.handle.stop({ timeoutMs: 15_000 });
  }
  const file = readdirSync(dir).find((entry) => entry.endsWith('.cpuprofile'));
  if (!file) return { ...out, error: 'no .cpuprofile written' };
  log(`profile: ${name} written (${file})`);
  return { ...out, file: join(dir, file), summary: summariseProfileFile(join(dir, file), { top: 40, skipMs: out.skipMs }) };
}
