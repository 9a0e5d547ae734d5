#!/usr/bin/env node
// The benchmark: `npm run bench` (= npm run build:dev && node bench/run.mjs).
// Starts the authorization server, the null ext_authz server and the service as
// separate processes on 127.0.0.1, runs the scenarios (bench/scenarios/*), and
// writes bench/out/results.json and bench/RESULTS.md. Every child process runs
// in its own process group and is killed at the end, on error and on signals.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hashOfJs } from './lib/dist.mjs';

const SCENARIOS = ['cacheHit', 'manyUsers', 'cold', 'window', 'introspection', 'workers', 'replicas', 'users100k', 'profile', 'memory'];
const HELP = `usage: node bench/run.mjs [options]   (run \`npm run build:dev\` first)
  --quick                 small sizes and 1 repetition (a smoke test, ~2 min)
  --only LIST             comma-separated subset of: ${SCENARIOS.join(', ')}
  --reps N                pairs of 50-stream runs (default 3)
  --light-reps N          pairs of 1-stream / many-user runs (default 2)
  --duration S            measured seconds per run (default 3); --warmup S (default 1)
  --many-users N          distinct tokens in the many-users scenario (default 10000)
  --memory-tokens N       cached tokens in the memory scenario (default 100000)
  --big-users N           distinct cached tokens in the users100k scenario (default 100000; minted
                          once and shared with the memory scenario when the sizes are equal)
  --point-users N         distinct tokens in the replicas scenario's capacity point (default 1000)
  --point-duration S      measured seconds of the capacity point (default 15)
  --replica-tokens N      distinct tokens per replicas run (default 500)
  --no-plot               skip the PNG plot
Writes bench/RESULTS.md (with --only: bench/out/RESULTS.md), bench/out/results.json, bench/out/logs/.`;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    reps: { type: 'string' },
    'light-reps': { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    'many-users': { type: 'string' },
    'memory-tokens': { type: 'string' },
    'big-users': { type: 'string' },
    'point-users': { type: 'string' },
    'point-duration': { type: 'string' },
    'replica-tokens': { type: 'string' },
    'no-plot': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}

const quick = args.quick;
const opts = {
  reps: Number(args.reps ?? (quick ? 1 : 3)),
  lightReps: Number(args['light-reps'] ?? (quick ? 1 : 2)),
  durationS: Number(args.duration ?? (quick ? 2 : 3)),
  warmupS: Number(args.warmup ?? 1),
  c1DurationS: 2,
  sweepFractions: quick ? [0.5] : [0.3, 0.6, 0.9],
  sweepDurationS: 2,
  manyUsers: Number(args['many-users'] ?? (quick ? 1000 : 10_000)),
  memoryTokens: Number(args['memory-tokens'] ?? (quick ? 10_000 : 100_000)),
  bigUsers: Number(args['big-users'] ?? (quick ? 10_000 : 100_000)),
  openLoopFraction: 0.9,
  pointUsers: Number(args['point-users'] ?? (quick ? 200 : 1000)),
  pointDurationS: Number(args['point-duration'] ?? (quick ? 6 : 15)),
  coldDelayMs: 20,
  coldDirect: quick ? 30 : 100,
  coldC1: quick ? 50 : 200,
  coldHerdTokens: quick ? 3 : 10,
  coldDistinct: quick ? 400 : 1500,
  coldSplitRounds: quick ? 1 : 3,
  coldSplitCalls: quick ? 20 : 40,
  coldProfileTokens: quick ? 100 : 300,
  profileS: quick ? 3 : 5,
  replicaTokens: Number(args['replica-tokens'] ?? (quick ? 100 : 500)),
  replicaLatencyTokens: quick ? 100 : 300,
  replicaCpuTokens: quick ? 300 : 1000,
};
const only = args.only ? new Set(args.only.split(',').map((name) => name.trim())) : undefined;
for (const name of only ?? []) if (!SCENARIOS.includes(name)) throw new Error(`unknown scenario "${name}" (known: ${SCENARIOS.join(', ')})`);
const wanted = (name) => !only || only.has(name);

const WATCHDOG_MS = 30 * 60_000;
setTimeout(() => {
  console.error(`bench: still running after ${WATCHDOG_MS / 60_000} min, giving up`);
  process.exit(3); // the 'exit' handler kills every child
}, WATCHDOG_MS).unref();

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BENCH = join(ROOT, 'bench');
const outDir = join(BENCH, 'out');
const started = performance.now();
const log = (message) => console.log(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}`);

for (const file of ['dist/main.js', 'dist-dev/test/fixtures/authorization-server/index.js', 'dist-dev/test/fixtures/envoy-client.js']) {
  if (!existsSync(join(ROOT, file))) {
    console.error(`bench: ${file} is missing: run \`npm run build:dev\` first (or \`npm run bench\`, which builds).`);
    process.exit(2);
  }
}
rmSync(outDir, { recursive: true, force: true });
mkdirSync(join(outDir, 'logs'), { recursive: true });

// Snapshot of the build: every process of this run uses the same code, even if
// someone rebuilds dist/ meanwhile (dist/grpc/protos.js finds protos/ at ../../protos).
const snapshot = join(outDir, 'snapshot');
cpSync(join(ROOT, 'dist'), join(snapshot, 'dist'), { recursive: true });
cpSync(join(ROOT, 'dist-dev'), join(snapshot, 'dist-dev'), { recursive: true });
cpSync(join(ROOT, 'protos'), join(snapshot, 'protos'), { recursive: true });
// dist/build-info.js reads the version from ../package.json.
cpSync(join(ROOT, 'package.json'), join(snapshot, 'package.json'));
process.env.BENCH_DIST_DIR = join(snapshot, 'dist');
const buildHash = hashOfJs(join(snapshot, 'dist'));

const { asControl } = await import('./lib/as-control.mjs');
const { CONTENDED_CORES, quietGate } = await import('./lib/contention.mjs');
const { encodeCheckRequest, grpcFrame } = await import('./lib/grpc-wire.mjs');
const { H2LOAD_INSTALL_HINT, h2loadVersion } = await import('./lib/h2load.mjs');
const { machineInfo } = await import('./lib/machine.mjs');
const { loadAverage } = await import('./lib/proc.mjs');
const { killAllSync, stopAll } = await import('./lib/processes.mjs');
const { setPairGate } = await import('./lib/runs.mjs');
const { serviceEnv, shippedEnv, shippedNodeArgs, startAuthorizationServerProcess, startNullServer, startService } = await import('./lib/servers.mjs');
const { issueTargets, renderReport, targets } = await import('./report.mjs');
const { cacheHit } = await import('./scenarios/cache-hit.mjs');
const { cold } = await import('./scenarios/cold.mjs');
const { introspection } = await import('./scenarios/introspection.mjs');
const { manyUsers } = await import('./scenarios/many-users.mjs');
const { memory } = await import('./scenarios/memory.mjs');
const { profile } = await import('./scenarios/profile.mjs');
const { replicas } = await import('./scenarios/replicas.mjs');
const { users100k } = await import('./scenarios/users-100k.mjs');
const { workers } = await import('./scenarios/workers.mjs');
const { window } = await import('./scenarios/window.mjs');

// Whatever happens, no child outlives the bench.
process.on('exit', killAllSync);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    console.error(`bench: ${signal}, stopping every child process`);
    killAllSync();
    process.exit(130);
  });
}

// Before each null/service pair: wait (bounded) while other processes keep the machine busy.
const GATE_BUDGET_S = quick ? 10 : 30;
const gateBudget = { remainingS: GATE_BUDGET_S };
setPairGate(() => quietGate({ thresholdCores: 0.3, maxWaitS: 6, budget: gateBudget }));

const h2load = h2loadVersion();
if (!h2load) log(`h2load not found: its rows are skipped. Install it with: ${H2LOAD_INSTALL_HINT}`);
const results = {
  argv: process.argv.slice(2),
  machine: machineInfo(ROOT),
  options: opts,
  build: { hash: buildHash, snapshot: 'bench/out/snapshot', distMtime: statSync(join(ROOT, 'dist', 'main.js')).mtime.toISOString() },
  contendedCores: CONTENDED_CORES,
  /** how the service is run: npm start's node flags and the image's environment (bench/lib/servers.mjs) */
  shipped: { nodeArgs: shippedNodeArgs(), env: shippedEnv() },
  h2load,
  h2loadHint: H2LOAD_INSTALL_HINT,
  scenarios: {},
  errors: [],
};
const save = () => writeFileSync(join(outDir, 'results.json'), JSON.stringify(results, null, 1));

try {
  log('starting the authorization server, the two null servers and the service');
  const as = await startAuthorizationServerProcess(outDir);
  results.exchangedTokenLength = as.exchangedTokenLength;
  const control = asControl(as.control);
  const nullServer = await startNullServer(outDir, { tokenLength: as.exchangedTokenLength });
  const minimalNull = await startNullServer(outDir, { label: 'null-minimal', minimal: true });
  const service = await startService(outDir, serviceEnv(as, { EXCHANGE_CACHE_MAX: '20000' }), { label: 'service', eld: true });
  if (!service.started) throw new Error(`the service did not start: ${JSON.stringify(service.exit)}\n${service.output}`);
  results.serviceCommand = service.command;
  // Token files minted once per (prefix, count) and shared by the scenarios that need the same set.
  const mintedFiles = new Map();
  const minted = async (prefix, count) => {
    const key = `${prefix}-${count}`;
    if (!mintedFiles.has(key)) {
      const file = join(outDir, `tokens-${key}.txt`);
      const { ms } = await control.mint(count, prefix, file);
      mintedFiles.set(key, { file, ms, count });
    }
    return mintedFiles.get(key);
  };
  const ctx = {
    opts,
    log,
    outDir,
    as,
    control,
    minted,
    h2load: Boolean(h2load),
    null: { ...nullServer, label: 'null' },
    nullMinimal: { ...minimalNull, label: 'null-minimal' },
    service: { ...service, label: 'service' },
  };

  // The cache-hit token, its CheckRequest framed for h2load, shared by several scenarios.
  const tokensFile = join(outDir, 'tokens-hit.txt');
  await control.mint(1, 'hit', tokensFile);
  const frame = grpcFrame(encodeCheckRequest(readFileSync(tokensFile, 'utf8').trim()));
  const dataFile = join(outDir, 'check-request.grpc');
  writeFileSync(dataFile, frame);
  const hit = { tokensFile, dataFile, frame };

  const scenario = async (name, run) => {
    if (!wanted(name)) return;
    log(`scenario ${name}`);
    try {
      results.scenarios[name] = await run();
    } catch (error) {
      log(`scenario ${name} failed: ${error.stack ?? error}`);
      results.scenarios[name] = { error: String(error.message ?? error) };
      results.errors.push(`${name}: ${error.message ?? error}`);
    }
    save();
  };

  await scenario('cacheHit', () => cacheHit(ctx, hit));
  await scenario('manyUsers', () => manyUsers(ctx));
  await scenario('cold', () => cold(ctx));
  await scenario('window', () => window(ctx, hit));
  await service.handle.stop(); // the remaining scenarios start their own service processes
  await scenario('introspection', () => introspection(ctx, hit));
  await scenario('workers', () => workers(ctx, hit));
  await scenario('replicas', () => replicas(ctx, hit));
  await scenario('users100k', () => users100k(ctx));
  await nullServer.handle.stop();
  await minimalNull.handle.stop();
  await scenario('profile', () => profile(ctx, hit));
  await scenario('memory', () => memory(ctx));
} catch (error) {
  log(`bench failed: ${error.stack ?? error}`);
  results.errors.push(String(error.message ?? error));
} finally {
  await stopAll();
}

results.loadAtEnd = loadAverage();
results.gate = { budgetS: GATE_BUDGET_S, perPairS: 6, thresholdCores: 0.3 };
results.gateWaitedS = GATE_BUDGET_S - gateBudget.remainingS;
try {
  results.build.distChangedDuringRun = hashOfJs(join(ROOT, 'dist')) !== buildHash;
} catch {
  results.build.distChangedDuringRun = true;
}
results.wallS = (performance.now() - started) / 1000;
if (!args['no-plot'] && results.scenarios.cacheHit?.grpc?.sweep?.length) {
  try {
    const { plotSweep } = await import('./plot.mjs');
    results.plot = plotSweep(results.scenarios.cacheHit.grpc.sweep, join(BENCH, 'rps-vs-p99.png')) ? 'rps-vs-p99.png' : undefined;
  } catch (error) {
    log(`plot skipped: ${error.message}`);
  }
}
save();
// A partial run (--only) leaves the full report in bench/RESULTS.md alone.
const report = only ? join(outDir, 'RESULTS.md') : join(BENCH, 'RESULTS.md');
writeFileSync(report, renderReport(results));
log(`wrote ${report.replace(ROOT, '')} in ${(results.wallS / 60).toFixed(1)} min`);
for (const row of targets(results)) console.log(`  ${row.name}: ${row.measured} (target ${row.target}) → ${row.verdict.replace(/\*\*/g, '')}`);
console.log('  many users, less memory:');
for (const row of issueTargets(results)) console.log(`    ${row.name}: ${row.measured} (target ${row.target}) → ${row.verdict.replace(/\*\*/g, '')}`);
process.exit(results.errors.length > 0 ? 1 : 0);
