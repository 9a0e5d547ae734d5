#!/usr/bin/env node
// Soak: a bounded run of mixed ext_authz traffic against the service while the
// authorization server misbehaves, watching that resident memory and open file
// descriptors stay flat and that every Check is answered.
//
//   npm run build:dev && node bench/soak.mjs [--seconds 60]
//
// Processes (127.0.0.1, each in its own process group, killed on exit, error,
// SIGINT/SIGTERM and by a watchdog at seconds + 60 s):
//   - the bench authorization server (bench/as-server.mjs), the issuer of every
//     valid token; its token endpoint and JWKS are reached only through
//   - a fault-injecting proxy (bench/lib/fault-proxy.mjs, in this process) that
//     cycles healthy / down / slow / 5xx / html / truncated / oversized;
//   - a second bench authorization server started with --token-ttl 2, a second
//     trusted issuer (CONFIG_FILE `issuers`) whose tokens are therefore
//     correctly signed and expired (the only way to get expired tokens from
//     the bench's control API without changing it);
//   - the service, `node dist/main.js` (from a snapshot of dist/, or a build of
//     HEAD with --build-head), its caches filled to EXCHANGE_CACHE_MAX first.
// Load: a fixed-rate open loop from this process with @grpc/grpc-js, bounded
// in-flight calls, a deadline on every call, a fixed mix of cache hits, cache
// misses, invalid tokens and malformed CheckRequests (CATEGORIES). Samples
// VmRSS, /proc/<pid>/fd and /metrics every second.
// Criteria: no call unanswered (never completed, deadline, transport error);
// every Envoy-shaped call answered with a CheckResponse; cached tokens OK in
// every phase; after a 20 % warm-up, mean VmRSS of the last 20 % of the rest
// at most 15 % above that of its first 20 %, open fds at most 10 more; a new
// token OK once the faults heal; the service still up.
// Writes bench/SOAK.md and bench/out/soak.json; exit code 0 when every
// criterion holds, 1 when one fails, 2 on a setup error, 3 from the watchdog.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hashOfJs } from './lib/dist.mjs';

const HELP = `usage: node bench/soak.mjs [options]   (run \`npm run build:dev\` first)
  --seconds S         seconds of load (default 60)
  --rate R            Checks per second, fixed schedule (default 200)
  --max-in-flight N   calls in flight at most; a call due beyond it is skipped and counted (default 256)
  --deadline-ms MS    gRPC deadline of every call (default 1000)
  --phase-seconds S   length of one fault phase (default: S/18 clamped to 1..3 s)
  --build-head        soak a fresh build of the committed HEAD (git archive + tsc, in a temporary
                      directory) instead of dist/: for when src/ has uncommitted changes
Writes bench/SOAK.md and bench/out/soak.json (logs in bench/out/soak-logs/).`;

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    rate: { type: 'string', default: '200' },
    'max-in-flight': { type: 'string', default: '256' },
    'deadline-ms': { type: 'string', default: '1000' },
    'phase-seconds': { type: 'string' },
    'build-head': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}

const SECONDS = Number(args.seconds);
const RATE = Number(args.rate);
const MAX_IN_FLIGHT = Number(args['max-in-flight']);
const DEADLINE_MS = Number(args['deadline-ms']);
const PHASE_MS = Math.round(1000 * Number(args['phase-seconds'] ?? Math.max(1, Math.min(3, SECONDS / 18))));
for (const [name, value] of Object.entries({ SECONDS, RATE, MAX_IN_FLIGHT, DEADLINE_MS, PHASE_MS })) {
  if (!(Number.isFinite(value) && value > 0)) {
    console.error(`soak: bad ${name}: ${value}`);
    process.exit(2);
  }
}

// The service's limits as configured here (src/config/settings.ts names).
const EXCHANGE_TIMEOUT_MS = 600; // AUTHORIZATION_SERVER_TIMEOUT_MS: below the 1 s deadline, so the service times out first
const MAX_RESPONSE_BYTES = 262_144; // AUTHORIZATION_SERVER_MAX_RESPONSE_BYTES (the default)
const SLOW_MS = 1500; // the proxy's slow phase: beyond EXCHANGE_TIMEOUT_MS and the deadline
const CACHE_MAX = 300; // EXCHANGE_CACHE_MAX: filled before the load, so the caches evict all run long
const REPEAT_TOKENS = 50;
// Healthy phases are interleaved so the service's circuit breaker (open 1 s, doubling up to 30 s) can close in between.
const PHASES = ['healthy', 'down', 'slow', 'healthy', '5xx', 'html', 'healthy', 'truncated', 'oversized'];

// Criteria.
const WARMUP_FRACTION = 0.2;
const WINDOW_FRACTION = 0.2; // of the post-warm-up part
const RSS_GROWTH_MAX = 0.15;
const FD_GROWTH_MAX = 10;
const RECOVERY_MAX_MS = 32_000; // the breaker opens for 30 s at most

/** Traffic mix: [category, weight, what it is, token-dependent expectation]. */
const CATEGORIES = [
  ['repeat', 48, 'one of 50 tokens exchanged before the run (cache hit)'],
  ['new', 10, 'a token never seen before: JWKS-verified, then exchanged through the fault proxy (cache miss)'],
  ['bad-signature', 4, 'a valid token with one signature character changed'],
  ['expired', 4, 'correctly signed by the second trusted issuer, expired'],
  ['unknown-kid', 2, 'signed by a key the JWKS does not hold, random kid: a JWKS refetch through the proxy (cooldown 2 s)'],
  ['garbage-token', 3, 'Bearer followed by something that is not a JWT'],
  ['missing-bearer', 4, 'no Authorization header'],
  ['wrong-scheme', 2, 'Authorization: Basic / Digest'],
  ['no-attributes', 3, 'an empty CheckRequest'],
  ['no-http', 3, 'attributes without request.http'],
  ['huge-header', 2, 'a cached token plus a 96 KiB header'],
  ['huge-token', 2, 'Bearer of 70,000 characters (over MAX_TOKEN_BYTES)'],
  ['many-headers', 2, 'a cached token plus 1,000 headers (map, or raw header_map)'],
  ['non-utf8', 3, 'invalid UTF-8: in the raw Authorization value, or in another header and the path with a cached token'],
  ['undecodable', 1, 'bytes that are not a CheckRequest (broken protobuf)'],
];
// Categories whose token is a pre-exchanged one: every answer must be OK, in every phase.
const KNOWN_TOKEN_CATEGORIES = new Set(['repeat', 'huge-header', 'many-headers']);

const WATCHDOG_MS = (SECONDS + 60) * 1000;
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BENCH = join(ROOT, 'bench');
const outRoot = join(BENCH, 'out');
const started = performance.now();
const log = (message) => console.log(`[soak ${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${message}`);

for (const file of args['build-head'] ? [] : ['dist/main.js', 'dist-dev/test/fixtures/authorization-server/index.js', 'dist-dev/test/fixtures/envoy-client.js']) {
  if (!existsSync(join(ROOT, file))) {
    console.error(`soak: ${file} is missing: run \`npm run build:dev\` first.`);
    process.exit(2);
  }
}
// Working files (snapshot of the build, tokens, config, logs) live in a temporary directory, not in
// bench/out/, which bench/run.mjs empties when it starts; the logs are copied to bench/out/soak-logs/ at
// the end. The snapshot keeps a rebuild of dist/ by someone else mid-run from mixing builds (as run.mjs
// does); a node_modules link and package.json ("type": "module") let it resolve its dependencies.
const outDir = mkdtempSync(join(tmpdir(), 'token-exchange-authz-soak-'));
mkdirSync(join(outDir, 'logs'), { recursive: true });
symlinkSync(join(ROOT, 'node_modules'), join(outDir, 'node_modules'), 'dir');
let build;
try {
  if (args['build-head']) {
    // The committed tree only: src/, protos/, the dev fixtures, tsconfig*.json and package.json of HEAD, compiled here.
    const git = (...gitArgs) => execFileSync('git', gitArgs, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 }).trim();
    const commit = git('rev-parse', '--short', 'HEAD');
    execFileSync('sh', ['-c', `git archive HEAD src protos test/fixtures tsconfig.json tsconfig.dev.json package.json | tar -x -C '${outDir}'`], { cwd: ROOT, timeout: 60_000 });
    console.log(`[soak] building HEAD (${commit}) in ${outDir}`);
    for (const project of ['tsconfig.json', 'tsconfig.dev.json']) {
      execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], { cwd: outDir, stdio: 'inherit', timeout: 180_000 });
    }
    build = { from: `HEAD (${commit}), built by the soak with tsc`, commit };
  } else {
    cpSync(join(ROOT, 'dist'), join(outDir, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'dist-dev'), join(outDir, 'dist-dev'), { recursive: true });
    cpSync(join(ROOT, 'protos'), join(outDir, 'protos'), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(outDir, 'package.json'));
    build = { from: 'a snapshot of dist/', distMtime: statSync(join(ROOT, 'dist', 'main.js')).mtime.toISOString() };
  }
  process.env.BENCH_DIST_DIR = join(outDir, 'dist');
  build.hash = hashOfJs(join(outDir, 'dist'));
} catch (error) {
  console.error(`soak: could not prepare the build: ${error.message}`);
  rmSync(outDir, { recursive: true, force: true });
  process.exit(2);
}

const grpc = await import('@grpc/grpc-js');
const { generateKeyPair, SignJWT } = await import('jose');
const { asControl } = await import('./lib/as-control.mjs');
const { RESOURCE } = await import('./lib/constants.mjs');
const { fromDevDist } = await import('./lib/dist.mjs');
const { startFaultProxy } = await import('./lib/fault-proxy.mjs');
const { CHECK_PATH, checkStatusOf, decodeCheckResponse } = await import('./lib/grpc-wire.mjs');
const { LatencyRecorder } = await import('./lib/histogram.mjs');
const { machineInfo } = await import('./lib/machine.mjs');
const { cpuSeconds, loadAverage, memoryOf } = await import('./lib/proc.mjs');
const { systemBusyS } = await import('./lib/contention.mjs');
const { killAllSync, startProcess, stopAll } = await import('./lib/processes.mjs');
const { serviceEnv, startAuthorizationServerProcess, startService } = await import('./lib/servers.mjs');
const { envoyCheckRequest, officialTypes } = await fromDevDist('test/fixtures/envoy-client.js');

let proxy;
let workDirRemoved = false;
/** Copies the processes' logs to bench/out/soak-logs/ and removes the working directory (also on the way out after an error). */
function saveLogsAndClean() {
  if (workDirRemoved) return;
  workDirRemoved = true;
  try {
    rmSync(join(outRoot, 'soak-logs'), { recursive: true, force: true });
    mkdirSync(outRoot, { recursive: true });
    cpSync(join(outDir, 'logs'), join(outRoot, 'soak-logs'), { recursive: true });
  } catch {}
  rmSync(outDir, { recursive: true, force: true });
}
process.on('exit', () => {
  killAllSync();
  saveLogsAndClean();
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    console.error(`soak: ${signal}, stopping every child process`);
    killAllSync();
    process.exit(130);
  });
}
setTimeout(() => {
  console.error(`soak: still running after ${WATCHDOG_MS / 1000} s (watchdog), giving up`);
  process.exit(3); // the 'exit' handler kills every child
}, WATCHDOG_MS).unref();

// ------------------------------------------------------------------ helpers

/** A second bench authorization server whose tokens live `ttl` seconds (bench/as-server.mjs --token-ttl). */
async function startShortLivedIssuer(ttl) {
  const handle = startProcess({
    name: 'expired-issuer',
    args: [join(BENCH, 'as-server.mjs'), `--token-ttl=${ttl}`],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', LANG: 'C.UTF-8', BENCH_DIST_DIR: process.env.BENCH_DIST_DIR },
    cwd: ROOT,
    logFile: join(outDir, 'logs', 'expired-issuer.log'),
    readyPattern: /^READY (.+)$/,
  });
  return { handle, ...JSON.parse((await handle.ready)[1]) };
}

const readTokens = (file) => readFileSync(file, 'utf8').split('\n').filter(Boolean);
async function mintTokens(control, count, prefix) {
  const file = join(outDir, `tokens-${prefix}.txt`);
  await control.mint(count, prefix, file);
  return readTokens(file);
}

/** Deterministic PRNG (xorshift32), so the mix is the same every run. */
function prng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}
const random = prng(0x50a1c0de);

// Protobuf by hand, for string fields that must carry bytes that are not UTF-8.
function varint(value) {
  const bytes = [];
  while (value > 0x7f) {
    bytes.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return Buffer.from(bytes);
}
const pbLen = (field, payload) => {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  return Buffer.concat([varint((field << 3) | 2), varint(data.length), data]);
};
/** CheckRequest { attributes { request { http { id, method, headers | header_map, path, host, scheme, protocol } } } } */
function handEncodedCheck({ headers = [], rawHeaders, path = Buffer.from('/mcp') }) {
  const parts = [pbLen(1, String(1e15 + Math.floor(random() * 1e15))), pbLen(2, 'GET')];
  const pseudo = [[':authority', 'mcp.example.com'], [':path', path], [':method', 'GET'], [':scheme', 'https']];
  if (rawHeaders) {
    const entries = [...pseudo, ...rawHeaders].map(([key, value]) => pbLen(1, Buffer.concat([pbLen(1, key), pbLen(3, value)])));
    parts.push(pbLen(13, Buffer.concat(entries)));
  } else {
    for (const [key, value] of [...pseudo, ...headers]) parts.push(pbLen(3, Buffer.concat([pbLen(1, key), pbLen(2, value)])));
  }
  parts.push(pbLen(4, path), pbLen(5, 'mcp.example.com'), pbLen(6, 'https'), pbLen(10, 'HTTP/1.1'));
  return pbLen(1, pbLen(4, pbLen(2, Buffer.concat(parts))));
}

function encode(input) {
  const { CheckRequest } = officialTypes();
  return Buffer.from(CheckRequest.encode(CheckRequest.fromObject(envoyCheckRequest(input))).finish());
}
const bearer = (token) => ({ authorization: `Bearer ${token}` });

/** One signature character changed (never the last one, whose low bits may be padding). */
function breakSignature(token, j) {
  const [header, payload, signature] = token.split('.');
  const position = (j * 7919) % (signature.length - 2);
  const replacement = signature[position] === 'A' ? 'B' : 'A';
  return `${header}.${payload}.${signature.slice(0, position)}${replacement}${signature.slice(position + 1)}`;
}

const b64 = (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256))).toString('base64url').slice(0, n);
const GARBAGE = [
  () => b64(60),
  () => 'a.b.c',
  () => `${b64(20)}.${b64(40)}.${b64(40)}`,
  () => 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
  () => `${Buffer.from('{"alg":"RS256","kid":"x"}').toString('base64url')}.${b64(30)}`,
  () => `not a token ${b64(10)}`,
  () => b64(8000),
  () => '....',
];

// ------------------------------------------------------------------ run

const results = {
  argv: process.argv.slice(2),
  machine: machineInfo(ROOT),
  options: { seconds: SECONDS, rate: RATE, maxInFlight: MAX_IN_FLIGHT, deadlineMs: DEADLINE_MS, phaseMs: PHASE_MS, phases: PHASES, exchangeTimeoutMs: EXCHANGE_TIMEOUT_MS, maxResponseBytes: MAX_RESPONSE_BYTES, slowMs: SLOW_MS, cacheMax: CACHE_MAX },
  criteria: { warmupFraction: WARMUP_FRACTION, windowFraction: WINDOW_FRACTION, rssGrowthMax: RSS_GROWTH_MAX, fdGrowthMax: FD_GROWTH_MAX, recoveryMaxMs: RECOVERY_MAX_MS },
  categories: Object.fromEntries(CATEGORIES.map(([name, weight, what]) => [name, { weight, what }])),
  build,
  errors: [],
};
let exitCode = 2;

try {
  log('starting the authorization servers');
  const [as, expiredIssuer] = await Promise.all([startAuthorizationServerProcess(outDir), startShortLivedIssuer(2)]);
  const control = asControl(as.control);
  const expiredControl = asControl(expiredIssuer.control);
  // Expired tokens first: they need 2 s to expire (the service runs with CLOCK_TOLERANCE=0).
  const expiredTokens = await mintTokens(expiredControl, 200, 'soak-expired');
  const expiredMintedAt = Date.now();

  const newShare = CATEGORIES.find(([name]) => name === 'new')[1] / CATEGORIES.reduce((sum, [, weight]) => sum + weight, 0);
  const newCount = Math.min(190_000, Math.ceil(RATE * SECONDS * newShare * 1.3) + 200);
  log(`minting ${REPEAT_TOKENS} repeat, ${newCount} new, 200 bad-signature and 60 recovery tokens`);
  const repeatTokens = await mintTokens(control, REPEAT_TOKENS, 'soak-repeat');
  const newTokens = await mintTokens(control, newCount, 'soak-new');
  const badSource = await mintTokens(control, 200, 'soak-badsig');
  const recoveryTokens = await mintTokens(control, 60, 'soak-recovery');
  const preflightTokens = await mintTokens(control, 2, 'soak-preflight');
  const fillTokens = await mintTokens(control, CACHE_MAX - REPEAT_TOKENS - 1, 'soak-fill');

  // Unknown kid: same claims as the issuer's tokens, signed with a key of ours.
  const { privateKey } = await generateKeyPair('RS256');
  const unknownKidTokens = await Promise.all(
    Array.from({ length: 50 }, (_, i) => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ client_id: 'demo-app', scope: 'mcp:tools', sub: `soak-foreign-${i}` })
        .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: `soak-unknown-${i}-${b64(8)}` })
        .setIssuer(as.issuer)
        .setAudience(RESOURCE)
        .setIssuedAt(now)
        .setExpirationTime(now + 3600)
        .setJti(`soak-${i}`)
        .sign(privateKey);
    }),
  );

  proxy = await startFaultProxy({ upstream: as.issuer, slowMs: SLOW_MS, oversizedBytes: MAX_RESPONSE_BYTES + 64 * 1024 });
  log(`fault proxy on 127.0.0.1:${proxy.port} → ${as.issuer}`);

  // Two trusted issuers: the main one (its JWKS through the proxy), the expired-token one (direct).
  const configFile = join(outDir, 'soak-config.yaml');
  writeFileSync(
    configFile,
    [
      'issuers:',
      `  - authorization_server_url: ${as.issuer}`,
      `    jwks_uri: ${proxy.url('/jwks')}`,
      `  - authorization_server_url: ${expiredIssuer.issuer}`,
      '',
    ].join('\n'),
  );
  const serviceOverrides = {
    CONFIG_FILE: configFile,
    AUTHORIZATION_SERVER_URL: undefined, // both issuers come from the file
    TOKEN_EXCHANGE_ENDPOINT_URL: proxy.url('/token'),
    AUTHORIZATION_SERVER_TIMEOUT_MS: String(EXCHANGE_TIMEOUT_MS),
    AUTHORIZATION_SERVER_MAX_RESPONSE_BYTES: String(MAX_RESPONSE_BYTES),
    EXCHANGE_CACHE_MAX: String(CACHE_MAX),
    CLOCK_TOLERANCE: '0',
    JWKS_COOLDOWN_SECONDS: '2',
    MAX_CONNECTION_AGE_MS: '15000', // the client reconnects several times during the run
    MAX_CONNECTION_AGE_GRACE_MS: '5000',
    LOG_LEVEL: 'info',
  };
  const env = serviceEnv(as, serviceOverrides);
  // With the bench's event-loop-delay preload and --expose-gc: at the two idle points (before and after the
  // load) it reports process.memoryUsage() before and after a full GC; nothing runs gc() during the load.
  const service = await startService(outDir, env, { label: 'service', eld: true, gc: true });
  if (!service.started) throw new Error(`the service did not start: ${JSON.stringify(service.exit)}\n${service.output}`);
  results.service = {
    command: service.command.replaceAll(outDir, '<snapshot>'),
    pid: service.pid,
    env: Object.fromEntries(Object.entries(env).filter(([key]) => !/SECRET|^PATH$|^HOME$|^BENCH_/.test(key)).map(([key, value]) => [key, value.replaceAll(outDir, '<work dir>')])),
    configFile: readFileSync(configFile, 'utf8'),
  };
  log(`service pid ${service.pid}, gRPC 127.0.0.1:${service.port}, ops http://127.0.0.1:${service.httpPort}`);

  // ---------------------------------------------------------------- client
  const client = new grpc.Client(`127.0.0.1:${service.port}`, grpc.credentials.createInsecure());
  await new Promise((resolve, reject) => client.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve())));
  const identity = (value) => value;
  /** One Check: resolves { error } or { response } (raw bytes); never rejects. */
  const check = (body, deadlineMs = DEADLINE_MS) =>
    new Promise((resolve) => {
      client.makeUnaryRequest(CHECK_PATH, identity, identity, body, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (error, response) => resolve(error ? { error } : { response }));
    });
  /** 'OK', 'denied <http status> (grpc <code>)' or 'grpc-error <code>'. */
  function outcomeOf({ error, response }) {
    if (error) return { key: `grpc-error ${grpc.status[error.code] ?? error.code}`, grpcError: error };
    const status = checkStatusOf(response);
    if (status.code === 0 && !status.denied) return { key: 'OK', ok: true };
    let httpStatus = '?';
    try {
      httpStatus = decodeCheckResponse(response).httpStatus ?? '?';
    } catch {
      httpStatus = 'undecodable';
    }
    return { key: `denied ${httpStatus}`, httpStatus, grpcCode: status.code };
  }

  // Pre-flight: a new token is OK. Then, while the proxy is healthy, the caches are filled to EXCHANGE_CACHE_MAX,
  // so the load runs at their plateau (each new exchange evicts one) and memory measures the steady state:
  // first the fill tokens, then the repeat tokens, which are therefore the most recently used.
  const preflight = outcomeOf(await check(encode({ headers: bearer(preflightTokens[0]) }), 10_000));
  if (!preflight.ok) throw new Error(`pre-flight check with a new token was not OK: ${preflight.key}`);
  // The heap after a full GC (and VmRSS right after it), through the bench's preload. Taken after the
  // pre-flight check, before the cache fill, and again after the load: never just before or during the
  // load, where the memory a forced GC gives back would make the service's RSS regrow in the measured windows.
  const gcSnapshot = async () => {
    const snapshot = await service.eldSnapshot();
    let rssAfterGcKiB = NaN;
    try {
      rssAfterGcKiB = memoryOf(service.pid).rssKiB;
    } catch {}
    return { heapUsedBefore: snapshot.memory.heapUsed, heapUsedAfterGc: snapshot.memoryAfterGc?.heapUsed, rssAfterGcKiB, external: snapshot.memoryAfterGc?.external, arrayBuffers: snapshot.memoryAfterGc?.arrayBuffers, eld: { p50Ms: snapshot.p50Ms, p99Ms: snapshot.p99Ms, maxMs: snapshot.maxMs, resolutionMs: snapshot.resolutionMs } };
  };
  const gcBefore = await gcSnapshot();
  let fillIndex = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (fillIndex < fillTokens.length) {
        const filled = outcomeOf(await check(encode({ headers: bearer(fillTokens[fillIndex++]) }), 10_000));
        if (!filled.ok) throw new Error(`filling the cache failed: ${filled.key}`);
      }
    }),
  );
  for (const token of repeatTokens) {
    const primed = outcomeOf(await check(encode({ headers: bearer(token) }), 10_000));
    if (!primed.ok) throw new Error(`priming a repeat token failed: ${primed.key}`);
  }
  // Expired tokens need 2 s to expire; the service's kept-alive connections from the fill need 5 s to close
  // (the proxy's keep-alive timeout), so the idle baseline does not count them.
  await sleep(Math.max(0, expiredMintedAt + 3000 - Date.now(), 5500));
  const expiredProbe = outcomeOf(await check(encode({ headers: bearer(expiredTokens[0]) }), 10_000));
  const primedEntries = (await service.metrics()).authz_exchange_cache_entries;
  log(`pre-flight OK; cache filled (${primedEntries} entries, ${REPEAT_TOKENS} of them the repeat tokens); an expired token → ${expiredProbe.key}`);
  results.preflight = { newToken: preflight.key, expiredToken: expiredProbe.key, cacheEntries: primedEntries };

  // ---------------------------------------------------------------- requests
  let newIndex = 0;
  let newReused = 0;
  const counters = { badSig: 0, expired: 0, unknownKid: 0, garbage: 0, missing: 0, scheme: 0, noAttr: 0, noHttp: 0, hugeHeader: 0, hugeToken: 0, many: 0, utf8: 0, undecodable: 0 };
  const repeatPick = () => repeatTokens[Math.floor(random() * repeatTokens.length)];
  const bigValue = 'v'.repeat(96 * 1024);
  const manyHeaders = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`x-soak-${i}`, `value-${i}`]));
  const emptyCheck = Buffer.alloc(0);
  const noHttpCheck = encode({ noHttp: true });
  const emptyAttributesCheck = Buffer.from([0x0a, 0x00]); // attributes present, empty
  /** Returns { body, token? (a known token whose answer must be OK) }. */
  const build = {
    repeat: () => {
      const token = repeatPick();
      return { body: encode({ headers: bearer(token) }), token };
    },
    new: () => {
      if (newIndex >= newTokens.length) newReused++;
      return { body: encode({ headers: bearer(newTokens[newIndex++ % newTokens.length]) }) };
    },
    'bad-signature': () => {
      const j = counters.badSig++;
      return { body: encode({ headers: bearer(breakSignature(badSource[j % badSource.length], j)) }) };
    },
    expired: () => ({ body: encode({ headers: bearer(expiredTokens[counters.expired++ % expiredTokens.length]) }) }),
    'unknown-kid': () => ({ body: encode({ headers: bearer(unknownKidTokens[counters.unknownKid++ % unknownKidTokens.length]) }) }),
    'garbage-token': () => ({ body: encode({ headers: { authorization: `Bearer ${GARBAGE[counters.garbage++ % GARBAGE.length]()}` } }) }),
    'missing-bearer': () => ({ body: encode(counters.missing++ % 2 ? { headers: { 'x-api-key': 'k' } } : {}) }),
    'wrong-scheme': () => ({ body: encode({ headers: { authorization: counters.scheme++ % 2 ? 'Basic dXNlcjpwYXNzd29yZA==' : 'Digest username="u", realm="r"' } }) }),
    'no-attributes': () => ({ body: counters.noAttr++ % 2 ? emptyCheck : emptyAttributesCheck }),
    'no-http': () => ({ body: noHttpCheck }),
    'huge-header': () => {
      const token = repeatPick();
      return { body: encode({ headers: { ...bearer(token), 'x-filler': bigValue }, raw: counters.hugeHeader++ % 2 === 1 }), token };
    },
    'huge-token': () => ({ body: encode({ headers: { authorization: `Bearer ${'A'.repeat(70_000)}` }, raw: counters.hugeToken++ % 2 === 1 }) }),
    'many-headers': () => {
      const token = repeatPick();
      return { body: encode({ headers: { ...manyHeaders, ...bearer(token) }, raw: counters.many++ % 2 === 1 }), token };
    },
    'non-utf8': () => {
      const token = repeatPick();
      const bad = Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x80]);
      if (counters.utf8++ % 2 === 0) {
        // The Authorization value itself is not UTF-8 (raw_value bytes, as Envoy sends with encode_raw_headers).
        return { body: handEncodedCheck({ rawHeaders: [['authorization', Buffer.concat([Buffer.from('Bearer '), bad, Buffer.from(token)])]] }) };
      }
      // A valid cached token; another header and the path carry invalid UTF-8 in string fields.
      return { body: handEncodedCheck({ headers: [['authorization', `Bearer ${token}`], ['x-binary', bad]], path: Buffer.concat([Buffer.from('/mcp/'), bad]) }), utf8Ok: token };
    },
    // A length past the end of the message; or wire type 7, which does not exist.
    undecodable: () => ({ body: counters.undecodable++ % 2 ? Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]) : Buffer.from([0x0f, 0x01, 0x02]) }),
  };
  // The hand-encoded bodies parse with the official schema (strings decode leniently).
  officialTypes().CheckRequest.decode(build['non-utf8']().body);
  officialTypes().CheckRequest.decode(build['non-utf8']().body);
  counters.utf8 = 0;

  // A shuffled schedule of 1,000 slots in proportion to the weights.
  const totalWeight = CATEGORIES.reduce((sum, [, weight]) => sum + weight, 0);
  const slots = [];
  for (const [name, weight] of CATEGORIES) for (let i = 0; i < Math.round((weight / totalWeight) * 1000); i++) slots.push(name);
  for (let i = slots.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [slots[i], slots[j]] = [slots[j], slots[i]];
  }

  // ---------------------------------------------------------------- accounting
  const stats = (results.stats = { scheduled: 0, sent: 0, skipped: 0, answered: 0, checkResponses: 0, grpcErrors: 0, unanswered: 0, neverCompleted: 0, knownTokenNotOk: 0, utf8OkNotOk: 0, deadlineExceeded: 0, checkStatusCodes: {}, grpcErrorCodes: {} });
  const byCategory = {}; // category -> { sent, outcomes: {key: n}, latency }
  const byPhase = {}; // phase -> { sent, outcomes }
  const byPhaseCategory = {}; // `${phase} ${category}` -> outcomes
  const errorSamples = [];
  const knownTokenFailures = [];
  const pending = new Set();
  let inFlight = 0;
  const bump = (object, key) => (object[key] = (object[key] ?? 0) + 1);
  /** Transport-level failures and deadlines: the call was not answered. */
  const isUnanswered = (error) =>
    [grpc.status.DEADLINE_EXCEEDED, grpc.status.UNAVAILABLE, grpc.status.CANCELLED].includes(error.code) ||
    (error.code === grpc.status.INTERNAL && /RST_STREAM|protocol error|connection|stream/i.test(error.details ?? ''));

  function send(category, phase) {
    const { body, token, utf8Ok } = build[category]();
    const record = { category, phase, at: performance.now() };
    const category_ = (byCategory[category] ??= { sent: 0, outcomes: {}, latency: new LatencyRecorder(100_000) });
    const phase_ = (byPhase[phase] ??= { sent: 0, outcomes: {} });
    category_.sent++;
    phase_.sent++;
    stats.sent++;
    inFlight++;
    const promise = check(body).then((result) => {
      inFlight--;
      pending.delete(promise);
      const latency = performance.now() - record.at;
      const outcome = outcomeOf(result);
      let key = outcome.key;
      if (outcome.grpcError) {
        stats.grpcErrors++;
        bump(stats.grpcErrorCodes, grpc.status[outcome.grpcError.code] ?? outcome.grpcError.code);
        if (outcome.grpcError.code === grpc.status.DEADLINE_EXCEEDED) stats.deadlineExceeded++;
        if (isUnanswered(outcome.grpcError)) {
          stats.unanswered++;
          key = `UNANSWERED ${key}`;
        } else stats.answered++;
        if (errorSamples.length < 20) errorSamples.push({ category, phase, code: outcome.grpcError.code, details: outcome.grpcError.details, latencyMs: Math.round(latency) });
      } else {
        stats.answered++;
        stats.checkResponses++;
        bump(stats.checkStatusCodes, outcome.ok ? 0 : outcome.grpcCode);
      }
      if ((token || utf8Ok) && !outcome.ok) {
        if (token) stats.knownTokenNotOk++;
        else stats.utf8OkNotOk++;
        if (knownTokenFailures.length < 20) knownTokenFailures.push({ category, phase, outcome: key, latencyMs: Math.round(latency) });
      }
      bump(category_.outcomes, key);
      bump(phase_.outcomes, key);
      bump((byPhaseCategory[`${phase} ${category}`] ??= {}), key);
      category_.latency.record(latency);
    });
    pending.add(promise);
  }

  // ---------------------------------------------------------------- sampling
  const samples = (results.samples = []);
  let metricsBusy = false;
  let loadStartMs = 0;
  const fdCount = (pid) => {
    try {
      return readdirSync(`/proc/${pid}/fd`).length;
    } catch {
      return NaN;
    }
  };
  async function sample(stage) {
    const t = (Date.now() - loadStartMs) / 1000;
    let rssKiB = NaN;
    try {
      rssKiB = memoryOf(service.pid).rssKiB;
    } catch {}
    const row = { t: Math.round(t * 10) / 10, stage, phase: proxy.phase, rssKiB, fds: fdCount(service.pid), inFlight, sent: stats.sent };
    samples.push(row);
    if (metricsBusy) return;
    metricsBusy = true;
    try {
      const metrics = await service.metrics();
      row.cacheEntries = metrics.authz_exchange_cache_entries;
      row.activeHandles = metrics.nodejs_active_handles_total;
      row.activeRequests = metrics.nodejs_active_requests_total;
      row.heapUsedBytes = metrics.nodejs_heap_size_used_bytes;
      row.processOpenFds = metrics.process_open_fds;
    } catch (error) {
      row.metricsError = String(error.message ?? error);
    } finally {
      metricsBusy = false;
    }
  }

  // Idle baseline (caches full, before the load).
  loadStartMs = Date.now();
  await sample('idle-before');

  // ---------------------------------------------------------------- load
  log(`load: ${RATE}/s for ${SECONDS} s, deadline ${DEADLINE_MS} ms, ≤ ${MAX_IN_FLIGHT} in flight; fault phases of ${PHASE_MS / 1000} s: ${PHASES.join(' → ')}`);
  loadStartMs = Date.now();
  const loadStart = performance.now();
  const ourPids = [service.pid, as.handle.pid, expiredIssuer.handle.pid];
  const cpuOf = () => ourPids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const busyBefore = systemBusyS();
  const ourCpuBefore = cpuOf();
  const serviceCpuBefore = cpuSeconds(service.pid);
  const selfBefore = process.cpuUsage();
  const loadEnd = loadStart + SECONDS * 1000;
  const sampler = setInterval(() => void sample('load'), 1000);
  let lastPhaseIndex = -1;
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      const phaseIndex = Math.floor((now - loadStart) / PHASE_MS) % PHASES.length;
      if (phaseIndex !== lastPhaseIndex) {
        lastPhaseIndex = phaseIndex;
        void proxy.setPhase(PHASES[phaseIndex]).catch((error) => results.errors.push(`proxy: ${error.message}`));
      }
      const total = Math.round(SECONDS * RATE);
      const due = now >= loadEnd ? total : Math.min(total, Math.floor(((now - loadStart) / 1000) * RATE));
      let burst = 0;
      while (stats.scheduled < due && burst++ < 200) {
        const category = slots[stats.scheduled % slots.length];
        stats.scheduled++;
        if (inFlight >= MAX_IN_FLIGHT) {
          stats.skipped++;
          continue;
        }
        send(category, proxy.phase);
      }
      if (now >= loadEnd && stats.scheduled >= due) return resolve();
      setTimeout(tick, 2);
    };
    tick();
  });
  clearInterval(sampler);
  {
    const wallS = (performance.now() - loadStart) / 1000;
    const self = process.cpuUsage(selfBefore);
    const ownS = cpuOf() - ourCpuBefore + (self.user + self.system) / 1e6;
    results.cpu = {
      wallS,
      serviceCores: (cpuSeconds(service.pid) - serviceCpuBefore) / wallS,
      soakProcessCores: (self.user + self.system) / 1e6 / wallS,
      otherCores: Math.max(0, systemBusyS() - busyBefore - ownS) / wallS,
      loadAverageAtEnd: loadAverage(),
    };
  }
  log(`load done: ${stats.sent} sent, ${inFlight} still in flight`);

  // Drain: every call has a deadline, so all must complete within it (plus slack).
  const drained = await Promise.race([Promise.all([...pending]).then(() => true), sleep(DEADLINE_MS + 5000).then(() => false)]);
  stats.neverCompleted = pending.size;
  stats.unanswered += pending.size;
  if (!drained) log(`${pending.size} calls never completed`);

  // Heal, then recovery at once: a new token must get OK (the breaker may hold calls for up to 30 s after
  // the last failure, so this is retried, with a new token each time).
  await proxy.setPhase('healthy');
  const recoveryStart = performance.now();
  const recovery = { attempts: [] };
  let recoveryIndex = 0;
  while (performance.now() - recoveryStart < RECOVERY_MAX_MS && recoveryIndex < recoveryTokens.length) {
    const outcome = outcomeOf(await check(encode({ headers: bearer(recoveryTokens[recoveryIndex++]) }), 5000));
    recovery.attempts.push({ atMs: Math.round(performance.now() - recoveryStart), outcome: outcome.key });
    if (outcome.ok) {
      recovery.ok = true;
      recovery.afterMs = Math.round(performance.now() - recoveryStart);
      break;
    }
    await sleep(500);
  }
  recovery.ok ??= false;
  log(`recovery: ${recovery.ok ? `OK after ${recovery.afterMs} ms (${recovery.attempts.length} attempt(s))` : `NOT OK after ${recovery.attempts.length} attempts`}`);

  // Idle: kept-alive sockets to the proxy close after 5 s without requests.
  for (let i = 0; i < 7; i++) {
    await sleep(1000);
    await sample('idle-after');
  }
  const gcAfter = await gcSnapshot(); // its event-loop delay covers the cache fill, the load and the idle seconds
  results.gc = { before: gcBefore, after: gcAfter };
  log(`heap after a full GC: ${(gcBefore.heapUsedAfterGc / 1048576).toFixed(1)} MiB before the load, ${(gcAfter.heapUsedAfterGc / 1048576).toFixed(1)} MiB after it`);
  const serviceAlive = service.handle.exitInfo === undefined;
  const finalMetrics = await service.metrics().catch(() => ({}));

  client.close();
  const stopped = await service.handle.stop({ timeoutMs: 10_000 });
  await proxy.close();
  await stopAll();

  // ---------------------------------------------------------------- verdicts
  const loadSamples = samples.filter((row) => row.stage === 'load');
  const afterWarmup = loadSamples.filter((row) => row.t >= SECONDS * WARMUP_FRACTION);
  const windowS = SECONDS * (1 - WARMUP_FRACTION) * WINDOW_FRACTION;
  const firstWindow = afterWarmup.filter((row) => row.t < SECONDS * WARMUP_FRACTION + windowS);
  const lastWindow = afterWarmup.filter((row) => row.t >= SECONDS - windowS);
  const mean = (rows, field) => rows.reduce((sum, row) => sum + row[field], 0) / rows.length;
  const range = (rows, field) => ({ min: Math.min(...rows.map((row) => row[field])), max: Math.max(...rows.map((row) => row[field])) });
  const series = {
    windowS,
    firstWindow: { from: SECONDS * WARMUP_FRACTION, to: SECONDS * WARMUP_FRACTION + windowS, samples: firstWindow.length, rssKiB: mean(firstWindow, 'rssKiB'), fds: mean(firstWindow, 'fds') },
    lastWindow: { from: SECONDS - windowS, to: SECONDS, samples: lastWindow.length, rssKiB: mean(lastWindow, 'rssKiB'), fds: mean(lastWindow, 'fds') },
    afterWarmup: { rssKiB: range(afterWarmup, 'rssKiB'), fds: range(afterWarmup, 'fds') },
    wholeLoad: { rssKiB: range(loadSamples, 'rssKiB'), fds: range(loadSamples, 'fds') },
    idleBefore: samples.find((row) => row.stage === 'idle-before'),
    idleAfter: samples.filter((row) => row.stage === 'idle-after').at(-1),
  };
  series.rssGrowth = series.lastWindow.rssKiB / series.firstWindow.rssKiB - 1;
  series.rssSlopeMiBPerMin = slope(afterWarmup, 'rssKiB') * 60 / 1024;
  series.heapUsedSlopeMiBPerMin = slope(afterWarmup.filter((row) => Number.isFinite(row.heapUsedBytes)), 'heapUsedBytes') * 60 / 1048576;
  series.fdGrowth = series.lastWindow.fds - series.firstWindow.fds;

  const envoyShapedGrpcErrors = Object.entries(byCategory)
    .filter(([name]) => name !== 'undecodable')
    .reduce((sum, [, entry]) => sum + Object.entries(entry.outcomes).filter(([key]) => key.startsWith('grpc-error')).reduce((s, [, n]) => s + n, 0), 0);
  const verdicts = [
    { name: 'every Check answered', measured: `${stats.unanswered} unanswered of ${stats.sent} sent (${stats.neverCompleted} never completed)`, pass: stats.unanswered === 0 && stats.sent > 0 },
    { name: 'every Envoy-shaped Check answered with a CheckResponse', measured: `${envoyShapedGrpcErrors} gRPC error statuses outside "undecodable"`, pass: envoyShapedGrpcErrors === 0 },
    { name: 'known (cached) tokens keep passing in every phase', measured: `${stats.knownTokenNotOk} non-OK of ${KNOWN_TOKEN_CATEGORIES.size ? [...KNOWN_TOKEN_CATEGORIES].reduce((sum, name) => sum + (byCategory[name]?.sent ?? 0), 0) : 0}`, pass: stats.knownTokenNotOk === 0 },
    { name: `RSS growth ≤ ${RSS_GROWTH_MAX * 100} %`, measured: `${(series.firstWindow.rssKiB / 1024).toFixed(1)} → ${(series.lastWindow.rssKiB / 1024).toFixed(1)} MiB (${(series.rssGrowth * 100).toFixed(1)} %)`, pass: series.rssGrowth <= RSS_GROWTH_MAX },
    { name: `open fds growth ≤ ${FD_GROWTH_MAX}`, measured: `${series.firstWindow.fds.toFixed(1)} → ${series.lastWindow.fds.toFixed(1)} (${series.fdGrowth >= 0 ? '+' : ''}${series.fdGrowth.toFixed(1)})`, pass: series.fdGrowth <= FD_GROWTH_MAX },
    { name: 'recovery: a new token is OK after the faults heal', measured: recovery.ok ? `OK ${recovery.afterMs} ms after the proxy healed (attempt ${recovery.attempts.length})` : `never OK in ${recovery.attempts.length} attempts`, pass: recovery.ok },
    { name: 'the service stayed up', measured: serviceAlive ? `up; SIGTERM exit ${JSON.stringify(stopped)}` : `exited ${JSON.stringify(service.handle.exitInfo)}`, pass: serviceAlive },
  ];
  if (stats.skipped > 0) results.errors.push(`${stats.skipped} scheduled calls skipped (in-flight limit ${MAX_IN_FLIGHT})`);
  if (newReused > 0) results.errors.push(`${newReused} "new" calls reused a token (the minted supply ran out)`);

  Object.assign(results, {
    wallS: (performance.now() - started) / 1000,
    stats,
    byCategory: Object.fromEntries(Object.entries(byCategory).map(([name, entry]) => [name, { sent: entry.sent, outcomes: entry.outcomes, latencyMs: entry.latency.summary() }])),
    byPhase,
    byPhaseCategory,
    errorSamples,
    knownTokenFailures,
    series,
    samples,
    recovery,
    proxy: { stats: proxy.stats, transitions: proxy.transitions.length },
    finalMetrics: pick(finalMetrics, /^authz_(checks_total|exchange_calls_total|exchange_cache|jwks_fetches_total)/),
    serviceExit: stopped,
    verdicts,
  });
  exitCode = verdicts.every((verdict) => verdict.pass) ? 0 : 1;
  results.pass = exitCode === 0;
} catch (error) {
  log(`soak failed: ${error.stack ?? error}`);
  results.errors.push(`setup/run error: ${error.message ?? error}`);
  results.pass = false;
  exitCode = 2;
} finally {
  await proxy?.close();
  await stopAll();
  saveLogsAndClean();
}

/** Least-squares slope of `field` over `t` (per second). */
function slope(rows, field) {
  if (rows.length < 2) return NaN;
  const meanT = rows.reduce((sum, row) => sum + row.t, 0) / rows.length;
  const meanY = rows.reduce((sum, row) => sum + row[field], 0) / rows.length;
  let num = 0;
  let den = 0;
  for (const row of rows) {
    num += (row.t - meanT) * (row[field] - meanY);
    den += (row.t - meanT) ** 2;
  }
  return num / den;
}

function pick(object, pattern) {
  return Object.fromEntries(Object.entries(object).filter(([key]) => pattern.test(key)));
}

mkdirSync(outRoot, { recursive: true });
writeFileSync(join(outRoot, 'soak.json'), JSON.stringify(results, null, 1));
if (results.verdicts) {
  writeFileSync(join(BENCH, 'SOAK.md'), renderSoak(results));
  for (const verdict of results.verdicts) console.log(`  ${verdict.pass ? 'PASS' : 'FAIL'}  ${verdict.name}: ${verdict.measured}`);
  log(`wrote bench/SOAK.md and bench/out/soak.json → ${exitCode === 0 ? 'PASS' : 'FAIL'}`);
} else {
  log('wrote bench/out/soak.json (no verdicts: the run did not complete)');
}
process.exit(exitCode);

// ------------------------------------------------------------------ SOAK.md

function renderSoak(r) {
  const o = r.options;
  const m = r.machine;
  const mib = (kib) => (Number.isFinite(kib) ? (kib / 1024).toFixed(1) : 'n/a');
  const n = (value, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
  const lines = [];
  const push = (...more) => lines.push(...more);
  const table = (head, rows) => push(`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((row) => `| ${row.join(' | ')} |`), '');

  push(
    '# Soak',
    '',
    `${o.seconds} s of mixed ext_authz traffic (${o.rate} Checks/s) against the service while a proxy injects authorization-server faults; ` +
      `written by \`node bench/soak.mjs${r.argv.length ? ` ${r.argv.join(' ')}` : ''}\` (raw data: \`bench/out/soak.json\`). ` +
      `**Result: ${r.pass ? 'PASS' : 'FAIL'}.**`,
    '',
    '## Machine',
    '',
    `${m.nproc} CPUs (${m.cpuModel}), ${n(m.memTotalGiB, 1)} GiB, ${m.os ?? ''} ${m.kernel}; node ${m.node}; commit \`${m.commit}\`${m.srcDirty ? ' (src/ modified)' : ''}; ${m.date}. ` +
      `Load average at start ${m.loadAtStart?.one ?? 'n/a'}. The machine is shared (other engineers' test runs), so the load generator, the proxy, two authorization servers and the service share these cores` +
      (r.cpu ? `; during the load the service used ${n(r.cpu.serviceCores, 2)} cores, the soak process (client and proxy) ${n(r.cpu.soakProcessCores, 2)}, and processes outside this run ${n(r.cpu.otherCores, 2)}.` : '.'),
    '',
    r.build.commit
      ? `Build under test: ${r.build.from} (hash ${r.build.hash} of its .js files): the committed code only${m.srcDirty ? ' (the working tree had uncommitted changes in src/, not included)' : ''}.`
      : `Build under test: ${r.build.from} (hash ${r.build.hash} of its .js files, \`dist/main.js\` built ${r.build.distMtime})` +
        (m.srcDirty ? '; `src/` had uncommitted changes when the run started, so the build may not be exactly the commit above.' : '.'),
    '',
    '## Verdicts',
    '',
  );
  table(['criterion', 'measured', 'verdict'], r.verdicts.map((v) => [v.name, v.measured, v.pass ? 'pass' : '**FAIL**']));
  push(
    `"Unanswered" = a call that never completed, or ended in DEADLINE_EXCEEDED, UNAVAILABLE, CANCELLED or a transport-level INTERNAL (RST_STREAM); a 503 CheckResponse during an outage is an answer. ` +
      `"Flat": the first ${WARMUP_FRACTION * 100} % of the run is warm-up; over the rest, the mean of its first ${WINDOW_FRACTION * 100} % (${n(r.series.windowS, 1)} s) is compared with the mean of its last ${WINDOW_FRACTION * 100} %: ` +
      `VmRSS may grow by ${RSS_GROWTH_MAX * 100} % at most, the number of open descriptors (/proc/<pid>/fd) by ${FD_GROWTH_MAX} at most. ` +
      `Known tokens are the ${REPEAT_TOKENS} tokens exchanged before the run (categories ${[...KNOWN_TOKEN_CATEGORIES].join(', ')}): their checks must be OK in every phase, faults included. ` +
      `Recovery: after the load stops and the proxy is healthy again, a Check with a never-seen token must be OK within ${RECOVERY_MAX_MS / 1000} s (the service's circuit breaker may hold calls for up to 30 s).`,
    '',
  );
  if (r.errors.length > 0) push('Notes: ' + r.errors.join('; ') + '.', '');

  push('## Outcomes by fault phase', '', `Phases of ${o.phaseMs / 1000} s in the order ${o.phases.join(' → ')}, repeated; each row adds up every occurrence of that phase. A call counts in the phase it was sent in.`, '');
  const columns = ['OK', 'denied 401', 'denied 403', 'denied 400', 'denied 503', 'denied 500'];
  const split = (outcomes) => {
    const known = columns.map((key) => outcomes[key] ?? 0);
    let otherDenied = 0;
    let grpcErrors = 0;
    let unanswered = 0;
    for (const [key, count] of Object.entries(outcomes)) {
      if (columns.includes(key)) continue;
      if (key.startsWith('UNANSWERED')) unanswered += count;
      else if (key.startsWith('grpc-error')) grpcErrors += count;
      else otherDenied += count;
    }
    return [...known, otherDenied, grpcErrors, unanswered];
  };
  const head = ['sent', 'OK', '401', '403', '400', '503', '500', 'other denial', 'gRPC error status', 'unanswered'];
  table(['phase', ...head], Object.entries(r.byPhase).map(([phase, entry]) => [phase, entry.sent, ...split(entry.outcomes)]));

  push(
    'Cache misses (category "new") and unknown-kid tokens by phase: the calls that reach the authorization server through the proxy. ' +
      'A 503 in a healthy phase is the service\'s circuit breaker still open after the previous fault phase.',
    '',
  );
  table(
    ['phase', 'new: outcomes', 'unknown-kid: outcomes'],
    Object.keys(r.byPhase).map((phase) => {
      const list = (outcomes) => Object.entries(outcomes ?? {}).sort((a, b) => b[1] - a[1]).map(([key, count]) => `${key}: ${count}`).join(', ') || '—';
      return [phase, list(r.byPhaseCategory[`${phase} new`]), list(r.byPhaseCategory[`${phase} unknown-kid`])];
    }),
  );
  const metricRows = Object.entries(r.finalMetrics).filter(([key]) => /exchange_calls_total|jwks_fetches_total|cache_(hits|misses|evictions)_total|cache_entries/.test(key));
  if (metricRows.length > 0) {
    push(`The service's own counters at the end (its /metrics, pre-flight and recovery included): ${metricRows.map(([key, value]) => `\`${key}\` ${value}`).join(', ')}.`, '');
  }

  push('## Outcomes by category', '');
  table(
    ['category', 'share', 'what', 'sent', 'outcomes', 'p99 ms', 'max ms'],
    CATEGORIES.map(([name, weight, what]) => {
      const entry = r.byCategory[name] ?? { sent: 0, outcomes: {}, latencyMs: {} };
      const total = CATEGORIES.reduce((sum, [, w]) => sum + w, 0);
      const outcomes = Object.entries(entry.outcomes).sort((a, b) => b[1] - a[1]).map(([key, count]) => `${key}: ${count}`).join(', ');
      return [name, `${((weight / total) * 100).toFixed(0)} %`, what, entry.sent, outcomes || '—', n(entry.latencyMs.p99, 1), n(entry.latencyMs.max, 1)];
    }),
  );
  push(
    `Totals: ${r.stats.sent} sent of ${r.stats.scheduled} scheduled (${r.stats.skipped} skipped at the in-flight limit), ${r.stats.answered} answered (${r.stats.checkResponses} CheckResponses, ${r.stats.grpcErrors - r.stats.unanswered + r.stats.neverCompleted} gRPC error statuses), ${r.stats.unanswered} unanswered (${r.stats.deadlineExceeded} DEADLINE_EXCEEDED, ${r.stats.neverCompleted} never completed). ` +
      `CheckResponse \`status.code\`: ${Object.entries(r.stats.checkStatusCodes).map(([code, count]) => `${code}: ${count}`).join(', ')}; gRPC errors by code: ${Object.entries(r.stats.grpcErrorCodes).map(([code, count]) => `${code}: ${count}`).join(', ') || 'none'}.`,
    '',
  );
  if (r.errorSamples.length > 0) {
    push(
      'gRPC errors seen (first ones). For bytes that are not a CheckRequest, @grpc/grpc-js answers INTERNAL "Error deserializing request" itself, before the service\'s handler runs; ' +
        'Envoy never sends such bytes (it would apply its own `status_on_error`), so that category is not held to "answered with a CheckResponse".',
      '',
    );
    const seen = new Set();
    for (const sample of r.errorSamples) {
      const key = `${sample.category} ${sample.code} ${sample.details}`;
      if (seen.has(key)) continue;
      seen.add(key);
      push(`- ${sample.category} (${sample.phase}): code ${sample.code} "${sample.details}" after ${sample.latencyMs} ms`);
    }
    push('');
  }
  if (r.knownTokenFailures.length > 0) {
    push('Known-token checks that were not OK (first ones):', '');
    for (const failure of r.knownTokenFailures) push(`- ${failure.category} in phase ${failure.phase}: ${failure.outcome} after ${failure.latencyMs} ms`);
    push('');
  }

  const s = r.series;
  push('## Memory and descriptors', '', `Sampled every second: VmRSS from /proc/<pid>/status, entries of /proc/<pid>/fd, and the service's /metrics.`, '');
  table(
    ['', 'window', 'samples', 'VmRSS MiB', 'open fds'],
    [
      ['first window', `${n(s.firstWindow.from, 1)}–${n(s.firstWindow.to, 1)} s`, s.firstWindow.samples, mib(s.firstWindow.rssKiB), n(s.firstWindow.fds, 1)],
      ['last window', `${n(s.lastWindow.from, 1)}–${n(s.lastWindow.to, 1)} s`, s.lastWindow.samples, mib(s.lastWindow.rssKiB), n(s.lastWindow.fds, 1)],
      ['after warm-up: min / max', `${n(s.firstWindow.from, 1)}–${o.seconds} s`, '', `${mib(s.afterWarmup.rssKiB.min)} / ${mib(s.afterWarmup.rssKiB.max)}`, `${s.afterWarmup.fds.min} / ${s.afterWarmup.fds.max}`],
      ['whole load: min / max', `0–${o.seconds} s`, '', `${mib(s.wholeLoad.rssKiB.min)} / ${mib(s.wholeLoad.rssKiB.max)}`, `${s.wholeLoad.fds.min} / ${s.wholeLoad.fds.max}`],
      ['idle, before the load', '', 1, mib(s.idleBefore?.rssKiB), s.idleBefore?.fds ?? 'n/a'],
      ['idle, after the load and the recovery check', '', 1, mib(s.idleAfter?.rssKiB), s.idleAfter?.fds ?? 'n/a'],
    ],
  );
  push(
    `Trend after warm-up (least squares): VmRSS ${n(s.rssSlopeMiBPerMin, 1)} MiB/min; V8 heap used (sampled, garbage included) ${n(s.heapUsedSlopeMiBPerMin, 1)} MiB/min.` +
      (s.rssSlopeMiBPerMin > 0
        ? ' VmRSS also grows while V8 lets garbage pile up between major collections and while the allocator keeps freed memory; the heap after a full GC (below) tells that from live data, and a longer run (`--seconds 300`) shows whether VmRSS levels off.'
        : ''),
    '',
  );
  if (r.gc) {
    const mb = (bytes) => (Number.isFinite(bytes) ? (bytes / 1048576).toFixed(1) : 'n/a');
    push(
      `Heap used after a full GC (forced only twice, through the bench's preload with \`--expose-gc\`): ${mb(r.gc.before.heapUsedAfterGc)} MiB after the pre-flight check (before the cache fill, 1 entry), ` +
        `${mb(r.gc.after.heapUsedAfterGc)} MiB after the load and the recovery check (${r.samples.at(-1)?.cacheEntries ?? 'n/a'} entries): the difference, ${mb(r.gc.after.heapUsedAfterGc - r.gc.before.heapUsedAfterGc)} MiB, ` +
        `holds the entries added to the exchange and validation caches and the code compiled during the load; spread over the ${r.stats.sent} Checks it would be ` +
        `${Number.isFinite(r.gc.after.heapUsedAfterGc) ? Math.round((r.gc.after.heapUsedAfterGc - r.gc.before.heapUsedAfterGc) / r.stats.sent) : 'n/a'} bytes each. VmRSS right after those GCs: ${mib(r.gc.before.rssAfterGcKiB)} → ${mib(r.gc.after.rssAfterGcKiB)} MiB. ` +
        `Event-loop delay of the service from the cache fill to the end (load, recovery check and idle seconds included): p50 ${n(r.gc.after.eld.p50Ms - r.gc.after.eld.resolutionMs, 1)} ms, p99 ${n(r.gc.after.eld.p99Ms - r.gc.after.eld.resolutionMs, 1)} ms, max ${n(r.gc.after.eld.maxMs - r.gc.after.eld.resolutionMs, 1)} ms (timer resolution subtracted).`,
      '',
    );
  }
  const step = Math.max(1, Math.round(o.seconds / 12));
  const rows = r.samples.filter((row) => row.stage !== 'load' || Math.round(row.t) % step === 0);
  table(
    ['t s', 'stage', 'phase', 'VmRSS MiB', 'fds', 'cache entries', 'active handles', 'heap used MiB', 'in flight'],
    rows.map((row) => [n(row.t, 1), row.stage, row.phase, mib(row.rssKiB), row.fds, row.cacheEntries ?? 'n/a', row.activeHandles ?? 'n/a', Number.isFinite(row.heapUsedBytes) ? (row.heapUsedBytes / 1048576).toFixed(1) : 'n/a', row.inFlight]),
  );

  push('## What the proxy did', '', 'Requests that reached the fault proxy (token endpoint `/token`, JWKS `/jwks`), by phase, and what it did with them.', '');
  table(
    ['phase', 'path', 'requests', 'actions'],
    Object.entries(r.proxy.stats).flatMap(([phase, paths]) =>
      Object.entries(paths).map(([path, entry]) => {
        const { requests, ...actions } = entry;
        return [phase, path, requests, Object.entries(actions).map(([key, count]) => `${key}: ${count}`).join(', ')];
      }),
    ),
  );
  push(`Recovery attempts: ${r.recovery.attempts.map((a) => `${a.atMs} ms ${a.outcome}`).join('; ')}.`, '');

  push(
    '## Setup',
    '',
    '- Processes, each its own process group on 127.0.0.1: the bench authorization server (`bench/as-server.mjs`, oidc-provider; issuer of every valid token and the real RFC 8693 token endpoint), ' +
      'a second `bench/as-server.mjs --token-ttl=2` (a second trusted issuer, only for correctly signed expired tokens), and the service `' + r.service.command + '` (with the bench\'s event-loop-delay preload and `--expose-gc`, used twice: before the cache fill and after the load). ' +
      'The fault proxy (`bench/lib/fault-proxy.mjs`) and the gRPC client (`@grpc/grpc-js`, one channel, open loop on a fixed schedule) run in the soak process.',
    `- Before the load, with the proxy healthy, the exchange and validation caches are filled to \`EXCHANGE_CACHE_MAX\` = ${o.cacheMax} (the ${REPEAT_TOKENS} repeat tokens last, so they are the most recently used): ` +
      'the load runs with the caches at their bound, every successful new exchange evicts an entry, and memory is measured in that steady state rather than while the caches grow.',
    `- The service reaches the main issuer's token endpoint and JWKS only through the proxy (\`TOKEN_EXCHANGE_ENDPOINT_URL\`, the issuer's \`jwks_uri\` in \`CONFIG_FILE\`); discovery goes direct. ` +
      `Every Check has a ${o.deadlineMs} ms deadline; at most ${o.maxInFlight} in flight.`,
    `- Fault phases (${o.phaseMs / 1000} s each, cycling ${o.phases.join(' → ')}): **down** closes the listener (connection refused) and resets open sockets; ` +
      `**slow** waits ${o.slowMs} ms before answering, or sends headers and half the body then stalls and drops (both beyond \`AUTHORIZATION_SERVER_TIMEOUT_MS\` = ${o.exchangeTimeoutMs}); ` +
      `**5xx** 500 JSON / 502 HTML / 503 Retry-After / 504 empty; **html** 200 text/html; **truncated** half the JSON with a matching or a full Content-Length (then dropped); ` +
      `**oversized** the real JSON padded to ${o.maxResponseBytes / 1024 + 64} KiB, over \`AUTHORIZATION_SERVER_MAX_RESPONSE_BYTES\` = ${o.maxResponseBytes} (with Content-Length, or chunked). ` +
      'The JWKS path gets the same faults (a JWKS outage while keys are cached; unknown-kid tokens make the service try to refetch).',
    `- Service settings that differ from the defaults: ${Object.entries(r.service.env)
      .filter(([key]) => !['LANG', 'TMPDIR', 'MCP_RESOURCE_URL', 'CLIENT_ID', 'EXCHANGE_RESOURCE', 'LISTEN_ADDRESS'].includes(key))
      .map(([key, value]) => `\`${key}=${value}\``)
      .join(', ')}.`,
    '',
    '## Reproduce',
    '',
    '```sh',
    'npm ci && npm run build:dev',
    `node bench/soak.mjs --seconds ${o.seconds}${r.build.commit ? ' --build-head' : ''}    # exit code 0 = every criterion holds; --help for options`,
    '```',
    '',
    `Everything stops by itself (a watchdog at seconds + 60 s); logs of every process are copied to \`bench/out/soak-logs/\`.`,
    '',
  );
  return lines.join('\n');
}
