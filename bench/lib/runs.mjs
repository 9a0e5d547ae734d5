// One measured run against one target (null server or service), with the
// target's CPU use, the machine's other load during the run, and, where the
// target has the preload, its event-loop delay.
import { CONTENDED_CORES, systemBusyS } from './contention.mjs';
import { runH2load } from './h2load.mjs';
import { runLoader } from './loader.mjs';
import { cpuSeconds } from './proc.mjs';

let gate = async () => undefined;
/** A function awaited before each pair of interleaved runs (the bench's quiet gate). */
export function setPairGate(fn) {
  gate = fn;
}

/** A @grpc/grpc-js loader run (bench/grpc-loader.mjs) against `target`. */
export async function grpcRun(target, config, { eld = false } = {}) {
  return withEld(target, eld, () =>
    accounted(async () => {
      const result = await runLoader({ target: `127.0.0.1:${target.port}`, ...config }, { serverPid: target.pid });
      return { target: target.label, loader: 'grpc-js', ...result };
    }),
  );
}

/**
 * The same closed-loop load split over `processes` grpc-js loaders at once,
 * each its own process and HTTP/2 connection with `concurrency / processes`
 * streams: for where one loader process, not the target, sets the rate. Rates,
 * calls and the loaders' CPU add up; each latency percentile is the higher of
 * the loaders' (a bound, not a merged histogram).
 */
export async function grpcRunSplit(target, config, processes) {
  return accounted(async () => {
    const before = cpuSeconds(target.pid);
    const parts = await Promise.all(Array.from({ length: processes }, () => runLoader({ target: `127.0.0.1:${target.port}`, ...config, concurrency: config.concurrency / processes })));
    const serverCpuS = cpuSeconds(target.pid) - before;
    const total = (pick) => parts.reduce((sum, part) => sum + pick(part), 0);
    const completed = total((part) => part.completed);
    const recorded = total((part) => part.recorded);
    const latencyMs = {};
    for (const key of ['p50', 'p90', 'p99', 'max']) latencyMs[key] = Math.max(...parts.map((part) => part.latencyMs[key]));
    const sumCounts = (pick) => parts.reduce((sum, part) => { for (const [code, n] of Object.entries(pick(part) ?? {})) sum[code] = (sum[code] ?? 0) + n; return sum; }, {});
    return {
      target: target.label,
      loader: `grpc-js ×${processes}`,
      mode: 'closed',
      concurrency: config.concurrency,
      connections: processes,
      completed,
      recorded,
      ok: total((part) => part.ok),
      notOk: sumCounts((part) => part.notOk),
      errors: sumCounts((part) => part.errors),
      unfinished: total((part) => part.unfinished),
      rps: total((part) => part.rps),
      latencyMs,
      loaderCpuS: total((part) => part.loaderCpuS),
      // per call of each loader's window, averaged over the loaders by their calls
      loaderCpuUsPerCall: total((part) => part.loaderCpuUsPerCall * part.recorded) / recorded,
      serverCpuS,
      serverCpuUsPerCall: completed > 0 ? (serverCpuS * 1e6) / completed : NaN,
    };
  });
}

/** An h2load run against `target` with the framed body in `dataFile`. */
export async function h2loadRun(target, { dataFile, connections, streams, durationS, warmupS }, { eld = false } = {}) {
  return withEld(target, eld, () =>
    accounted(async () => {
      const before = cpuSeconds(target.pid);
      const result = await runH2load({ port: target.port, dataFile, connections, streams, durationS, warmupS });
      const serverCpuS = cpuSeconds(target.pid) - before;
      // h2load does not report the warm-up's requests; estimate them at the measured rate.
      const calls = result.done * ((durationS + warmupS) / durationS);
      return { target: target.label, loader: 'h2load', concurrency: connections * streams, connections, ...result, serverCpuS, serverCpuUsPerCall: calls > 0 ? (serverCpuS * 1e6) / calls : NaN };
    }),
  );
}

/** Adds `otherCores`: the machine's busy CPU during the run less the server's, the loader's and the bench's own. */
async function accounted(run) {
  const busyBefore = systemBusyS();
  const self = process.cpuUsage();
  const started = performance.now();
  const result = await run();
  const wallS = (performance.now() - started) / 1000;
  const selfUsage = process.cpuUsage(self);
  const ownS = (result.serverCpuS ?? 0) + (Number.isFinite(result.loaderCpuS) ? result.loaderCpuS : 0) + (selfUsage.user + selfUsage.system) / 1e6;
  const otherCores = Math.max(0, systemBusyS() - busyBefore - ownS) / wallS;
  return { ...result, otherCores, contended: otherCores > CONTENDED_CORES };
}

async function withEld(target, eld, run) {
  if (!eld || !target.eldSnapshot) return run();
  await target.eldSnapshot(); // resets the histogram: only this run is measured
  const result = await run();
  result.eld = await target.eldSnapshot();
  return result;
}

/** Runs `fn(target, rep)` for rep = 1..reps, alternating the targets (null, service, null, service…). */
export async function interleaved(targets, reps, fn) {
  const runs = [];
  for (let rep = 1; rep <= reps; rep++) {
    const gated = await gate();
    for (const target of targets) runs.push({ rep, ...(gated ? { gateWaitS: gated.waitedS } : {}), ...(await fn(target, rep)) });
  }
  return runs;
}
