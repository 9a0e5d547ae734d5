#!/usr/bin/env node
import cluster from 'node:cluster';
import { setFlagsFromString } from 'node:v8';
import { buildApp } from './app.js';
import { EXIT, helpText, parseCommandLine, versionText } from './cli.js';
import { loadConfig, type Config } from './config/load.js';
import { ConfigError } from './errors.js';
import { routeGrpcLogs } from './grpc/logging.js';
import { createLogger, type Logger } from './log.js';

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
      // loadConfig reads the environment and every file it names, and calls no one.
      configOrExit();
      return void process.stdout.write('configuration OK\n');
    case 'serve':
      return serveOrSupervise(configOrExit());
  }
}

/** The validated configuration, or one line per problem on stderr and exit 78. */
function configOrExit(): Config {
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // One line per problem, each naming its variable; no stack trace (SPEC §2).
    for (const problem of error.problems) process.stderr.write(`configuration error: ${problem}\n`);
    return process.exit(EXIT.config); // EX_CONFIG
  }
}

function serveOrSupervise(config: Config): void {
  // Read by V8 at each full collection, so setting it now, before the caches fill, is in time.
  if (config.heapGrowingPercent > 0) setFlagsFromString(`--heap-growing-percent=${config.heapGrowingPercent}`);
  const log = createLogger(config.logLevel);
  routeGrpcLogs(log);
  if (config.workers > 1 && cluster.isPrimary) supervise(config, log);
  else void serve(config, log);
}

/** One service: listens, and on SIGTERM stops accepting, finishes in-flight checks and exits 0. */
async function serve(config: Config, log: Logger): Promise<void> {
  const app = buildApp(config, { log });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    app.close().then(
      () => process.exit(EXIT.ok),
      (error: unknown) => {
        log.error('shutdown failed', { err: error });
        process.exit(EXIT.failure);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await app.start();
  } catch (error) {
    log.fatal('cannot listen', { err: error });
    process.exit(EXIT.failure);
  }
}

/**
 * WORKERS > 1: forks that many services sharing the listening sockets
 * (node:cluster). SIGTERM is passed on; the primary exits 0 when every worker
 * has, and 1 if one dies unasked (the orchestrator restarts the pod).
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
}

main();
