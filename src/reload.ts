import type { Config } from './config/model.js';

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
  ['EXCHANGE_CACHE_MAX', (config) => config.cache.max],
  ['EXCHANGE_CACHE_TTL', (config) => config.cache.ttlSeconds],
  ['JWKS_REFRESH_SECONDS', (config) => config.authorizationServer.jwksRefreshSeconds],
  ['MCP_RESOURCE_URL', (config) => config.resourceUrl],
  ['TRACING', (config) => config.tracing],
  ['LOG_LEVEL', (config) => config.logLevel],
  ['HEAP_GROWING_PERCENT', (config) => config.heapGrowingPercent],
  ['SHUTDOWN_GRACE_MS', (config) => config.shutdownGraceMs],
];

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
    workers: running.workers,
    cache: { ...next.cache, max: running.cache.max, ttlSeconds: running.cache.ttlSeconds },
    authorizationServer: { ...next.authorizationServer, jwksRefreshSeconds: running.authorizationServer.jwksRefreshSeconds },
    resourceUrl: running.resourceUrl,
    tracing: running.tracing,
    logLevel: running.logLevel,
    heapGrowingPercent: running.heapGrowingPercent,
    shutdownGraceMs: running.shutdownGraceMs,
  };
  return { config: Object.freeze(config), ignored };
}
