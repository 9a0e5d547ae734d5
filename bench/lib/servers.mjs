// Starts the bench's server processes: the authorization server wrapper, the
// null ext_authz server, and the service under test (`node dist/main.js`).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { EXCHANGE_CLIENT, RESOURCE, UPSTREAM } from './constants.mjs';
import { distDir } from './dist.mjs';
import { freePort } from './ports.mjs';
import { startProcess } from './processes.mjs';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BENCH = join(ROOT, 'bench');
const ELD_PRELOAD = join(BENCH, 'lib', 'eld-preload.mjs');

/** A minimal environment: nothing from the caller's shell leaks into a server's configuration. */
function baseEnv() {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', LANG: 'C.UTF-8' };
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR;
  return env;
}

export async function startAuthorizationServerProcess(outDir) {
  const handle = startProcess({
    name: 'authorization-server',
    args: [join(BENCH, 'as-server.mjs')],
    env: { ...baseEnv(), ...(process.env.BENCH_DIST_DIR ? { BENCH_DIST_DIR: process.env.BENCH_DIST_DIR } : {}) },
    cwd: ROOT,
    logFile: join(outDir, 'logs', 'authorization-server.log'),
    readyPattern: /^READY (.+)$/,
  });
  const info = JSON.parse((await handle.ready)[1]);
  return { handle, ...info };
}

/** `minimal`: answer `status.code 0` only (bench/null-server.mjs --minimal). */
export async function startNullServer(outDir, { workers = 1, tokenLength, label = 'null', nodeArgs = [], minimal = false } = {}) {
  const handle = startProcess({
    name: label,
    args: [...nodeArgs, join(BENCH, 'null-server.mjs'), '--workers', String(workers), '--token-length', String(tokenLength ?? 770), ...(minimal ? ['--minimal'] : [])],
    env: baseEnv(),
    cwd: ROOT,
    logFile: join(outDir, 'logs', `${label}.log`),
    readyPattern: /^READY (.+)$/,
  });
  const info = JSON.parse((await handle.ready)[1]);
  return { handle, pid: handle.pid, port: info.port, workers: info.workers, label };
}

/**
 * The service's environment in front of the bench authorization server: only
 * long-standing variables (README's table), so the bench survives config work
 * in src/. `overrides` win; an undefined value removes a variable.
 */
export function serviceEnv(as, overrides = {}) {
  const env = {
    ...baseEnv(),
    ...shippedEnv(),
    MCP_RESOURCE_URL: RESOURCE,
    AUTHORIZATION_SERVER_URL: as.issuer,
    CLIENT_ID: EXCHANGE_CLIENT.id,
    CLIENT_SECRET: EXCHANGE_CLIENT.secret,
    EXCHANGE_RESOURCE: UPSTREAM,
    LISTEN_ADDRESS: '127.0.0.1',
    LOG_LEVEL: 'info',
    SHUTDOWN_GRACE_MS: '3000',
    ...overrides,
  };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete env[key];
  return env;
}

/**
 * The node flags `npm start` runs the service with (the image's CMD is the
 * same, test/deploy/dockerfile.ts), from the package.json beside the build
 * under test: the bench measures the service as shipped.
 */
export function shippedNodeArgs() {
  const start = JSON.parse(readFileSync(join(distDir(), '..', 'package.json'), 'utf8')).scripts.start.split(' ');
  return start.slice(1, start.indexOf('dist/main.js'));
}

/**
 * The environment the image sets for the service (the Dockerfile's last
 * stage's `ENV` lines, such as MALLOC_ARENA_MAX): with {@link shippedNodeArgs},
 * the service runs here as the image runs it.
 */
export function shippedEnv() {
  const runtime = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').split(/^FROM /m).at(-1);
  return Object.fromEntries([...runtime.matchAll(/^ENV ([A-Za-z_][A-Za-z0-9_]*)=(\S+)$/gm)].map(([, name, value]) => [name, value]));
}

/**
 * Starts `node [shipped flags] [nodeArgs] dist/main.js` with `env` on fresh ports and waits for
 * /readyz. Resolves { started: true, … } or, when the process exits first
 * (a configuration error: exit code 78), { started: false, exit, output }.
 */
export async function startService(outDir, env, { label = 'service', nodeArgs = [], eld = false, gc = false, readyTimeoutMs = 30_000 } = {}) {
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const eldFile = join(outDir, `eld-${label}`);
  const fullEnv = { ...env, GRPC_PORT: String(grpcPort), HTTP_PORT: String(httpPort) };
  if (eld) Object.assign(fullEnv, { BENCH_ELD_FILE: eldFile, BENCH_ELD_RESOLUTION_MS: '10', ...(gc ? { BENCH_ELD_GC: '1' } : {}) });
  const args = [...(eld ? ['--import', ELD_PRELOAD] : []), ...(eld && gc ? ['--expose-gc'] : []), ...shippedNodeArgs(), ...nodeArgs, join(distDir(), 'main.js')];
  const handle = startProcess({ name: label, args, env: fullEnv, cwd: ROOT, logFile: join(outDir, 'logs', `${label}.log`) });
  const base = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline) {
    if (handle.exitInfo) return { started: false, label, exit: handle.exitInfo, output: handle.tail() };
    try {
      const response = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      if (response.status === 200) {
        return {
          started: true,
          label,
          handle,
          pid: handle.pid,
          port: grpcPort,
          httpPort,
          command: `node ${args.map((arg) => arg.replace(ROOT, '')).join(' ')}`,
          metrics: () => metricsOf(base),
          eldSnapshot: eld ? () => eldSnapshot(handle, eldFile) : undefined,
        };
      }
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  await handle.stop();
  return { started: false, label, exit: { timedOut: true }, output: handle.tail() };
}

/** Prometheus text → { 'name{labels}': value }. */
async function metricsOf(base) {
  const response = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await response.text();
  const values = {};
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?)\s+([-\d.eE+]+|NaN)$/.exec(line);
    if (match) values[match[1]] = Number(match[2]);
  }
  return values;
}

/** Sum of every series of `name` in a metrics object (any labels). */
export function metricSum(metrics, name) {
  let total = 0;
  for (const [key, value] of Object.entries(metrics)) if (key === name || key.startsWith(`${name}{`)) total += value;
  return total;
}

/** Asks the preload for its histogram since the previous snapshot (SIGUSR2) and waits for the file. */
async function eldSnapshot(handle, eldFile) {
  const file = `${eldFile}.${handle.pid}.json`;
  let previous = 0;
  if (existsSync(file)) previous = JSON.parse(readFileSync(file, 'utf8')).seq;
  process.kill(handle.pid, 'SIGUSR2');
  for (let i = 0; i < 100; i++) {
    await sleep(20);
    try {
      const snapshot = JSON.parse(readFileSync(file, 'utf8'));
      if (snapshot.seq > previous) return snapshot;
    } catch {
      // not written yet (or mid-write)
    }
  }
  throw new Error(`no event-loop snapshot from ${handle.name}`);
}

