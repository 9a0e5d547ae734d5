#!/usr/bin/env node
// Two services of one build side by side, each with its own extra environment,
// and the minimal null server: N distinct users cached in each, then
// alternating closed-loop runs (grpc-js loader, 50 streams), each service run
// with its full collections and promoted bytes per Check read from
// --trace-gc-nvp. The probe behind README "Memory" (heap headroom):
//
//   npm run build:dev
//   node bench/heap-ab.mjs --users 10000 --a '{"HEAP_GROWING_PERCENT":"10"}' --b '{}'
//   node bench/heap-ab.mjs --users 100000 --a '{}' --b '{"nodeArgs":["--max-semi-space-size=8"]}'
//
// `nodeArgs` in a side's JSON are node flags put after `npm start`'s (so they
// win); every other key is an environment variable.
//
// Prints one JSON object: per target, one "rps/CPU µs per Check/full
// collections/promoted bytes per Check" entry per run, then each service's VmRSS.
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { asControl } from './lib/as-control.mjs';
import { memoryOf } from './lib/proc.mjs';
import { killAllSync, stopAll } from './lib/processes.mjs';
import { grpcRun } from './lib/runs.mjs';
import { ROOT, serviceEnv, startAuthorizationServerProcess, startNullServer, startService } from './lib/servers.mjs';

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '10000' },
    a: { type: 'string', default: '{}' },
    b: { type: 'string', default: '{}' },
    reps: { type: 'string', default: '5' },
    duration: { type: 'string', default: '5' },
  },
});
const users = Number(args.users);
const reps = Number(args.reps);
const durationS = Number(args.duration);

/** Full collections and bytes promoted, from --trace-gc-nvp lines. */
function collections(text) {
  const found = { full: 0, promoted: 0 };
  for (const line of text.split('\n')) {
    const kind = / gc=(\w+)/.exec(line)?.[1];
    if (!kind) continue;
    if (kind !== 's') found.full++;
    found.promoted += Number(/ promoted=(\d+)/.exec(line)?.[1] ?? 0);
  }
  return found;
}

process.on('exit', killAllSync);
const outDir = join(ROOT, 'bench', 'out', 'heap-ab');
rmSync(outDir, { recursive: true, force: true });
mkdirSync(join(outDir, 'logs'), { recursive: true });
try {
  const as = await startAuthorizationServerProcess(outDir);
  const control = asControl(as.control);
  const tokensFile = join(outDir, 'tokens.txt');
  await control.mint(users, 'ab', tokensFile);
  const services = [];
  for (const [label, extra] of [['a', args.a], ['b', args.b]]) {
    const { nodeArgs = [], ...extraEnv } = JSON.parse(extra);
    const env = serviceEnv(as, { EXCHANGE_CACHE_MAX: String(users + 10_000), TOKEN_EXCHANGE_ENDPOINT_URL: control.fastTokenEndpoint, ...extraEnv });
    const service = await startService(outDir, env, { label, nodeArgs: ['--trace-gc-nvp', ...nodeArgs] });
    if (!service.started) throw new Error(`service ${label} did not start: ${service.output}`);
    await grpcRun({ ...service, label }, { mode: 'closed', concurrency: 64, connections: 1, order: 'once', durationS: 900, warmupS: 0, deadlineMs: 60_000, tokensFile });
    services.push({ ...service, label, logFile: join(outDir, 'logs', `${label}.log`) });
  }
  const minimal = { ...(await startNullServer(outDir, { minimal: true, label: 'null-minimal' })), label: 'null-minimal' };
  const rows = { a: [], b: [], 'null-minimal': [] };
  const run = (target) => grpcRun(target, { mode: 'closed', concurrency: 50, connections: 1, durationS, warmupS: 1, tokensFile });
  for (let rep = 0; rep < reps; rep++) {
    const baseline = await run(minimal);
    rows['null-minimal'].push(`${Math.round(baseline.rps)}/${Math.round(baseline.serverCpuUsPerCall)}`);
    for (const service of rep % 2 === 0 ? services : [...services].reverse()) {
      const from = statSync(service.logFile).size;
      const result = await run(service);
      const gc = collections(readFileSync(service.logFile, 'utf8').slice(from));
      rows[service.label].push(`${Math.round(result.rps)}/${Math.round(result.serverCpuUsPerCall)}/full ${gc.full}/promoted ${Math.round(gc.promoted / result.completed)} B`);
    }
  }
  for (const service of services) rows[service.label].push(`VmRSS ${((memoryOf(service.pid).rssKiB * 1024) / 1e6).toFixed(1)} MB`); // MB = 10⁶ bytes, as in RESULTS.md
  console.log(JSON.stringify({ users, a: JSON.parse(args.a), b: JSON.parse(args.b), rows }, null, 1));
} finally {
  await stopAll();
}
