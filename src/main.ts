#!/usr/bin/env node
import cluster from 'node:cluster';
import { buildApp } from './app.js';
import { EXIT, helpText, parseCommandLine, versionText } from './cli.js';
import type { Config } from './config/load.js';
import { ReloadableConfig } from './config/reloadable.js';
import { ConfigError } from './errors.js';
import { routeGrpcLogs } from './grpc/logging.js';
import { createLogger, type Logger } from './log.js';
import { keepHeapLimitFloor } from './ops/heap-limit.js';

/** The only place that reads process.env or exits. */
function main(): void {
  const command = parseCommandLine(process.argv.slice(2));
  switch (command.kind) {
    case 'help':
      return void process.stdout.write(helpText());
    case 'version':
      return void process.stdout.write(versionText());
    case 'usage':
      process.stderr.write(`${command.problem}\n`);
      return process.exit(EXIT.usage);
    case 'check-config':
      // Loading reads the environment and every file it names, and calls no one.
      configOrExit(new ReloadableConfig(process.env));
      return void process.stdout.write('configuration OK\n');
    case 'serve': {
      const source = new ReloadableConfig(process.env);
      return serveOrSupervise(configOrExit(source), source);
    }
  }
}

/** The validated configuration, or one line per problem on stderr and exit 78. */
function configOrExit(source: ReloadableConfig): Config {
  try {
    return source.load();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // One line per problem, each naming its variable; no stack trace (SPEC §2).
    for (const problem of error.problems) process.stderr.write(`configuration error: ${problem}\n`);
    return process.exit(EXIT.config); // EX_CONFIG
  }
}

function serveOrSupervise(config: Config, source: ReloadableConfig): void {
  sizeHeap(config);
  const log = createLogger(config.logLevel);
  routeGrpcLogs(log);
  if (config.workers > 1 && cluster.isPrimary) supervise(config, log);
  else void serve(config, source, log);
}

/**
 * How far V8's heap may grow between full collections (README "Memory"): at
 * least `HEAP_GROWING_PERCENT` past the live data, and up to
 * `HEAP_LIMIT_FLOOR_MB` whatever is live. Read by V8 when it sets its next
 * limit, so setting it now, before the caches fill, is in time.
 */
function sizeHeap(config: Config): void {
  if (config.heapGrowingPercent === 0) return; // V8's own heuristics
  keepHeapLimitFloor(config.settings.heapLimitFloorMb * 1024 * 1024, config.heapGrowingPercent);
}

/**
 * One service: listens; on SIGHUP reads the configuration again (SPEC §5); on
 * SIGTERM stops accepting, finishes in-flight checks and exits 0. With tracing
 * on, the OpenTelemetry SDK is loaded and started first, and flushed at exit.
 */
async function serve(config: Config, source: ReloadableConfig, log: Logger): Promise<void> {
  let tracingSdk: { shutdown(): Promise<void> } | undefined;
  if (config.tracing) {
    try {
      tracingSdk = await (await import('./ops/tracing-sdk.js')).startTracingSdk(process.env);
    } catch (error) {
      log.error('tracing could not start; running without it', { err: error });
    }
  }
  const app = buildApp(config, { log, source });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    app.close().then(() => tracingSdk?.shutdown()).then(
      () => process.exit(EXIT.ok),
      (error: unknown) => {
        log.error('shutdown failed', { err: error });
        process.exit(EXIT.failure);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => void app.reload('SIGHUP'));
  try {
    await app.start();
  } catch (error) {
    log.fatal('cannot listen', { err: error });
    process.exit(EXIT.failure);
  }
}

/**
 * WORKERS > 1: forks that many services sharing the listening sockets
 * (node:cluster). SIGTERM and SIGHUP are passed on; the primary exits 0 when
 * every worker has, and 1 if one dies unasked (the orchestrator restarts the pod).
 */
function supervise(config: Config, log: Logger): void {
  let stopping = false;
  for (let i = 0; i < config.workers; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) {
      log.error('worker exited unexpectedly; stopping', { pid: worker.process.pid, code, signal });
      stopping = true;
      for (const other of Object.values(cluster.workers ?? {})) other?.process.kill('SIGTERM');
      process.exitCode = EXIT.failure;
    }
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(process.exitCode ?? EXIT.ok);
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down workers', { signal });
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Each worker reads the configuration again itself (and polls its files on its own).
  process.on('SIGHUP', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP');
  });
}

main();
