import type { Config } from './config/model.js';
import { SERVICE_SETTINGS } from './config/settings.js';
import { ConfigError } from './errors.js';
import type { Logger } from './log.js';
import type { Metrics } from './ops/metrics.js';

/**
 * Settings held by the listeners, the process or the caches, which live as
 * long as the process: a reload cannot change them (SPEC §5), so the running
 * values stay and the change is reported.
 */
const RESTART_ONLY: ReadonlyArray<readonly [string, (config: Config) => unknown]> = [
  ['LISTEN_ADDRESS', (config) => config.listen.address],
  ['GRPC_PORT', (config) => config.listen.grpcPort],
  ['HTTP_PORT', (config) => config.listen.httpPort],
  ['AUTHZ_HTTP_PORT', (config) => config.listen.authzHttpPort],
  ['WORKERS', (config) => config.workers],
  ['MAX_CONNECTION_AGE_MS', (config) => config.grpc.maxConnectionAgeMs],
  ['MAX_CONNECTION_AGE_GRACE_MS', (config) => config.grpc.maxConnectionAgeGraceMs],
  ['KEEPALIVE_TIME_MS', (config) => config.grpc.keepaliveTimeMs],
  ['KEEPALIVE_TIMEOUT_MS', (config) => config.grpc.keepaliveTimeoutMs],
  ['GRPC_CONNECTION_WINDOW_BYTES', (config) => config.grpc.connectionWindowBytes],
  // SPEC §5 listener bounds: held by the listeners.
  ['GRPC_MAX_MESSAGE_BYTES', (config) => config.grpc.maxMessageBytes],
  ['GRPC_MAX_CONCURRENT_STREAMS', (config) => config.grpc.maxConcurrentStreams],
  ['GRPC_MAX_CONNECTIONS', (config) => config.grpc.maxConnections],
  ['GRPC_MAX_PENDING_BYTES', (config) => config.grpc.maxPendingBytes],
  ['GRPC_REQUEST_TIMEOUT_MS', (config) => config.grpc.requestTimeoutMs],
  ['GRPC_IDLE_TIMEOUT_MS', (config) => config.grpc.idleTimeoutMs],
  ['GRPC_MAX_REQUEST_HEADERS', (config) => config.grpc.maxRequestHeaders],
  ['GRPC_MAX_REQUEST_HEADER_BYTES', (config) => config.grpc.maxRequestHeaderBytes],
  ['HTTP_MAX_CONNECTIONS', (config) => config.opsHttp.maxConnections],
  ['AUTHZ_HTTP_MAX_CONNECTIONS', (config) => config.authzHttp.maxConnections],
  ['AUTHZ_HTTP_KEEPALIVE_TIMEOUT_MS', (config) => config.authzHttp.keepAliveTimeoutMs],
  ['AUTHZ_HTTP_MAX_HEADERS', (config) => config.authzHttp.maxHeaders],
  ['EXCHANGE_CACHE_MAX', (config) => config.cache.max],
  ['EXCHANGE_CACHE_TTL', (config) => config.cache.ttlSeconds],
  ['JWKS_REFRESH_SECONDS', (config) => config.authorizationServer.jwksRefreshSeconds],
  ['MCP_RESOURCE_URL', (config) => config.resourceUrl],
  ['TRACING', (config) => config.tracing],
  ['LOG_LEVEL', (config) => config.logLevel],
  ['HEAP_GROWING_PERCENT', (config) => config.heapGrowingPercent],
  ['HEAP_LIMIT_FLOOR_MB', (config) => config.settings.heapLimitFloorMb],
  ['SHUTDOWN_GRACE_MS', (config) => config.shutdownGraceMs],
  // The Redis connection lives as long as the process; its keys (CACHE_KEYS_FILE) are reloaded.
  ['REDIS_URL', (config) => config.sharedCache?.url],
  ['REDIS_PASSWORD', (config) => config.sharedCache?.password],
  ['REDIS_TIMEOUT_MS', (config) => config.sharedCache?.timeoutMs],
];

/** The restart-only settings as keys of `Config.settings`, which keeps their running values as the views above do. */
const RESTART_ONLY_KEYS = Object.entries(SERVICE_SETTINGS)
  .filter(([, spec]) => RESTART_ONLY.some(([name]) => name === spec.env))
  .map(([key]) => key as keyof Config['settings']);

/**
 * The configuration a reload applies: `next`, except for the settings that
 * need a restart, which keep their running values; `ignored` names those that
 * changed.
 */
export function applicable(running: Config, next: Config): { config: Config; ignored: string[] } {
  const ignored = RESTART_ONLY.filter(([, value]) => value(running) !== value(next)).map(([name]) => name);
  const config: Config = {
    ...next,
    listen: running.listen,
    grpc: running.grpc,
    opsHttp: running.opsHttp,
    authzHttp: running.authzHttp,
    workers: running.workers,
    cache: { ...next.cache, max: running.cache.max, ttlSeconds: running.cache.ttlSeconds },
    authorizationServer: { ...next.authorizationServer, jwksRefreshSeconds: running.authorizationServer.jwksRefreshSeconds },
    resourceUrl: running.resourceUrl,
    tracing: running.tracing,
    logLevel: running.logLevel,
    heapGrowingPercent: running.heapGrowingPercent,
    settings: Object.freeze({ ...next.settings, ...Object.fromEntries(RESTART_ONLY_KEYS.map((key) => [key, running.settings[key]])) }),
    shutdownGraceMs: running.shutdownGraceMs,
    sharedCache: running.sharedCache && next.sharedCache ? { ...running.sharedCache, keys: next.sharedCache.keys } : running.sharedCache,
  };
  return { config: Object.freeze(config), ignored };
}

export interface ReloaderOptions {
  /** reads the configuration again (throws a ConfigError), and tells when one of its files changed */
  readonly source: { load(): Config; changed(): boolean };
  readonly log: Logger;
  readonly metrics: Pick<Metrics, 'configReload'>;
  /** the configuration running now */
  readonly running: () => Config;
  /** builds what `config` describes and puts it in service; throws to refuse it */
  readonly apply: (config: Config) => void;
}

/**
 * SPEC §5 reload: on demand (SIGHUP) and when a file of the configuration
 * changes (polled). A configuration is applied only if it is valid as a
 * whole; otherwise each problem is logged on its own line and the running one
 * stays. Both results are counted.
 */
export class Reloader {
  #timer: NodeJS.Timeout | undefined;
  #seconds = 0;

  constructor(private readonly options: ReloaderOptions) {}

  /** Reads and applies the configuration; true when it was applied. */
  reload(reason: string): boolean {
    const { source, log, metrics } = this.options;
    let applied: Config;
    try {
      const { config, ignored } = applicable(this.options.running(), source.load());
      if (ignored.length > 0) log.warn('settings that need a restart were not applied', { settings: ignored });
      this.options.apply(config);
      applied = config;
    } catch (error) {
      metrics.configReload('failed');
      // One line per problem, each naming its variable; never a secret's value (ConfigError lines hold none).
      if (error instanceof ConfigError) for (const problem of error.problems) log.error('configuration reload refused; the running configuration stays', { reason, problem });
      else log.error('configuration reload failed; the running configuration stays', { reason, err: error });
      return false;
    }
    metrics.configReload('ok');
    log.info('configuration reloaded', { reason });
    if (this.#timer !== undefined && applied.reloadPollSeconds !== this.#seconds) this.watch(applied.reloadPollSeconds);
    return true;
  }

  /** Checks the configuration's files every `seconds` (0: never), reloading when one changed: mounted secrets change without a signal. */
  watch(seconds: number): void {
    this.stop();
    this.#seconds = seconds;
    if (seconds > 0) this.#timer = setInterval(() => this.options.source.changed() && this.reload('a configuration file changed'), seconds * 1000).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
