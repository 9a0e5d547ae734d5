// h2load (Debian package nghttp2-client): detection, one timed run, output parsing.
// h2load counts HTTP 2xx as success and never reads grpc-status, which is why
// every target's body is verified once with node:http2 (grpc-wire.mjs) first.
import { execFileSync } from 'node:child_process';
import { CHECK_PATH } from './grpc-wire.mjs';
import { runToCompletion } from './processes.mjs';

export const H2LOAD_INSTALL_HINT = 'apt-get update && apt-get install -y nghttp2-client';

/** "nghttp2/1.52.0", or undefined when h2load is not on PATH. */
export function h2loadVersion() {
  try {
    return execFileSync('h2load', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().replace(/^h2load\s+/, '');
  } catch {
    return undefined;
  }
}

/**
 * POSTs `dataFile` (a framed gRPC message) to Check for warmupS + durationS
 * over `connections` connections × `streams` concurrent streams each.
 */
export async function runH2load({ port, dataFile, connections, streams, durationS, warmupS }) {
  const args = [
    '-c', String(connections),
    '-m', String(streams),
    '-t', '1',
    '-D', String(durationS),
    '--warm-up-time', String(warmupS),
    `--data=${dataFile}`,
    '-H', 'content-type: application/grpc',
    '-H', 'te: trailers',
    '-H', ':method: POST',
    `http://127.0.0.1:${port}${CHECK_PATH}`,
  ];
  // bash's `times` prints the CPU time of its children: h2load's own CPU use.
  const result = await runToCompletion('bash', ['-c', 'h2load "$@"; status=$?; times; exit $status', 'h2load', ...args], { timeoutMs: (durationS + warmupS + 30) * 1000 });
  const parsed = parseH2load(result.stdout);
  parsed.loaderCpuS = childrenCpuS(result.stdout);
  parsed.windowS = durationS; // "finished in" includes the warm-up; req/s is over -D only
  return { command: `h2load ${args.map((arg) => (/\s/.test(arg) ? `'${arg}'` : arg)).join(' ')}`, exitCode: result.code, timedOut: result.timedOut, ...parsed, stderr: result.code === 0 ? undefined : result.stderr.slice(-500) };
}

/** The children line of bash's `times` ("0m1.234s 0m0.567s"), in seconds. */
function childrenCpuS(text) {
  const lines = text.trim().split('\n').filter((line) => /^\d+m[\d.]+s \d+m[\d.]+s$/.test(line.trim()));
  const last = lines.at(-1);
  if (!last) return NaN;
  return last
    .trim()
    .split(' ')
    .map((part) => /^(\d+)m([\d.]+)s$/.exec(part))
    .reduce((sum, match) => sum + Number(match[1]) * 60 + Number(match[2]), 0);
}

const toMs = (value, unit) => Number(value) * ({ us: 0.001, ms: 1, s: 1000 }[unit] ?? NaN);

export function parseH2load(text) {
  const finished = /finished in ([\d.]+)s, ([\d.]+) req\/s/.exec(text);
  const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(text);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text);
  const time = /time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)/.exec(text);
  return {
    rps: finished ? Number(finished[2]) : NaN,
    windowS: finished ? Number(finished[1]) : NaN,
    done: requests ? Number(requests[3]) : NaN,
    succeeded: requests ? Number(requests[4]) : NaN,
    failed: requests ? Number(requests[5]) : NaN,
    errored: requests ? Number(requests[6]) : NaN,
    timeout: requests ? Number(requests[7]) : NaN,
    status2xx: codes ? Number(codes[1]) : NaN,
    latencyMs: time ? { min: toMs(time[1], time[2]), max: toMs(time[3], time[4]), mean: toMs(time[5], time[6]), sd: toMs(time[7], time[8]) } : undefined,
  };
}
