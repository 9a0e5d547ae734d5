import { buildApp } from './app.js';
import { loadConfig } from './config/load.js';
import { ConfigError } from './errors.js';
import { createLogger } from './log.js';

/** The only place that reads process.env or exits. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // One line per problem, each naming its variable; no stack trace (SPEC §2).
    for (const problem of error.problems) process.stderr.write(`configuration error: ${problem}\n`);
    process.exit(78); // EX_CONFIG
  }

  const log = createLogger(config.logLevel);
  const app = buildApp(config, { log });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error('shutdown failed', { err: error });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  try {
    await app.start();
  } catch (error) {
    log.fatal('cannot listen', { err: error });
    process.exit(1);
  }
}

await main();
