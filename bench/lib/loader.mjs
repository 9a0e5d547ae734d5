// Runs bench/grpc-loader.mjs as its own process and returns its JSON result,
// with the target server's CPU seconds over the run (from /proc).
import { fileURLToPath } from 'node:url';
import { cpuSeconds } from './proc.mjs';
import { runToCompletion } from './processes.mjs';

const LOADER = fileURLToPath(new URL('../grpc-loader.mjs', import.meta.url));

/** `serverPid`: the process whose CPU use is attributed to this run (and its children). */
export async function runLoader(config, { serverPid } = {}) {
  const budgetS = (config.warmupS ?? 1) + (config.durationS ?? 5) + (config.drainS ?? 15) + 60;
  const cpuBefore = serverPid ? cpuSeconds(serverPid) : NaN;
  const result = await runToCompletion(process.execPath, [LOADER, JSON.stringify(config)], { timeoutMs: budgetS * 1000 });
  const cpuAfter = serverPid ? cpuSeconds(serverPid) : NaN;
  const line = result.stdout.trim().split('\n').pop();
  let parsed;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new Error(`grpc-loader failed (exit ${result.code}${result.timedOut ? ', timed out' : ''}): ${result.stderr.slice(-2000)}`);
  }
  const serverCpuS = cpuAfter - cpuBefore;
  return { ...parsed, serverCpuS, serverCpuUsPerCall: parsed.completed > 0 ? (serverCpuS * 1e6) / parsed.completed : NaN };
}
