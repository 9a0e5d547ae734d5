import { VERSION } from './build-info.js';
import { ResponseBuilder } from './check/response.js';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config/model.js';
import { buildCore, type Core, type CoreDeps } from './core.js';
import { ExchangeCache } from './exchange/cache.js';
import { SharedExchangeCache } from './exchange/shared-cache.js';
import { RedisStore } from './exchange/shared-store.js';
import { reportDecision } from './check/report.js';
import { createCheckHandler } from './grpc/check-handler.js';
import { AnswerSlabs } from './grpc/answer-slabs.js';
import { EncodedAllows } from './grpc/encoded-allow.js';
import { HttpAuthzServer } from './http-authz/server.js';
import { loadAuthorizationService } from './grpc/protos.js';
import { GrpcServer } from './grpc/server.js';
import { silentLogger, type Logger } from './log.js';
import { OpsHttpServer } from './ops/http-server.js';
import { Metrics } from './ops/metrics.js';
import { Readiness } from './ops/readiness.js';
import { resourceMetadataDocument, resourceMetadataPaths } from './ops/resource-metadata.js';
import { Tracing } from './ops/tracing.js';
import { Principals } from './validation/principal.js';
import { Reloader } from './reload.js';

export interface AppOptions {
  readonly clock?: Clock;
  readonly log?: Logger;
  /** where the configuration is read again on reload (SIGHUP, or a changed file); without it `reload` refuses */
  readonly source?: { load(): Config; changed(): boolean };
}

export interface App {
  /** Binds both listeners; resolves with the bound ports. */
  start(): Promise<{ grpcPort: number; httpPort: number; authzHttpPort?: number }>;
  /** Stops accepting, finishes in-flight checks (up to the grace period), closes everything. */
  close(): Promise<void>;
  /**
   * Reads the configuration again and applies it if it is valid as a whole
   * (SPEC §5); otherwise logs why and keeps the running one. True when applied.
   */
  reload(reason: string): boolean;
  readonly metrics: Metrics;
  isReady(): boolean;
}

/**
 * Wires the service from a validated config. Nothing listens or calls out until
 * `start()`; tests build apps on port 0 and close them. The listeners, the
 * exchange cache and the metrics live as long as the app; everything else is
 * a core (src/core.ts), rebuilt from each configuration a reload applies.
 */
export function buildApp(config: Config, options: AppOptions = {}): App {
  const clock = options.clock ?? systemClock;
  const log = options.log ?? silentLogger;
  const metrics = new Metrics({ version: VERSION, nodeVersion: process.version });
  const tracing = config.tracing ? new Tracing() : undefined;

  const metadataDocument = resourceMetadataDocument(config);
  const metadataPaths = resourceMetadataPaths(config.resourceUrl);
  const responses = new ResponseBuilder(config.resourceUrl, metadataDocument);
  // The gRPC fast path: the cache keeps each exchanged token as its encoded allow answer, so a hit sends bytes built once;
  // the answers' bytes are packed into one process-wide set of slabs, and go back to it when the cache lets an answer go.
  const encoded = new EncodedAllows(new AnswerSlabs());
  // SPEC §4b: the shared tier behind the local cache; it connects in the background and never decides a Check.
  const sharedConfig = config.sharedCache;
  const sharedStore = sharedConfig && new RedisStore(sharedConfig, clock, (error) => shared?.connectionError(error));
  const shared = sharedStore && new SharedExchangeCache(sharedStore, sharedConfig.keys, clock, metrics, (reason, error, suppressed) => log.warn('shared cache not used', { reason, err: error, suppressed }));
  const cache = new ExchangeCache(config.cache.max, config.cache.ttlSeconds, clock, metrics, (value, principal, exchanger) => encoded.keepEncoded(value, principal, exchanger), shared);
  metrics.cacheSize = () => cache.size;
  const deps: CoreDeps = { clock, log, metrics, cache, tracing, metadataPaths, principals: new Principals() };

  let core: Core = buildCore(config, deps);
  metrics.breakers = () => core.exchangers.map((exchanger) => [exchanger.target.name, exchanger.breakerOpen] as const);
  /** The Check path of whichever core is current; a check that started on a retired core finishes there. */
  const pipeline: Pick<Core, 'decide'> = { decide: (request, parent) => core.decide(request, parent) };

  const headerLimits = { maxHeaders: config.grpc.maxRequestHeaders, maxHeaderBytes: config.grpc.maxRequestHeaderBytes };
  const grpc = new GrpcServer(loadAuthorizationService(headerLimits), { Check: createCheckHandler(pipeline, responses, encoded, metrics, log, tracing) }, config.grpc);
  const httpAuthz =
    config.listen.authzHttpPort === undefined
      ? undefined
      : new HttpAuthzServer({
          pipeline,
          responses,
          log,
          tracing,
          maxHeaderBytes: Math.max(32 * 1024, config.validation.maxTokenBytes + 16 * 1024),
          ...config.authzHttp,
          onDecision: (decision, seconds, answered, trace) => {
            metrics.httpRequest(answered.method, answered.status, seconds);
            reportDecision(metrics, log, decision, seconds, trace);
          },
        });
  const readiness = new Readiness(() => {
    grpc.setServing(true);
    log.info('authorization server ready', { issuers: core.config.issuers.map((issuer) => issuer.issuer) });
  });
  const ops = new OpsHttpServer({
    healthy: readiness.healthy,
    ready: readiness.ready,
    metrics: () => metrics.render(),
    metricsContentType: metrics.contentType,
    metadata: metadataDocument,
    metadataPaths,
  }, config.opsHttp);
  let refreshTimer: NodeJS.Timeout | undefined;
  const reloader =
    options.source &&
    new Reloader({
      source: options.source,
      log,
      metrics,
      running: () => core.config,
      apply: (applied) => {
        const next = buildCore(applied, deps);
        if (applied.sharedCache) shared?.useKeys(applied.sharedCache.keys);
        const previous = core;
        core = next;
        readiness.warm(next);
        previous.retire().catch((error: unknown) => log.warn('closing the previous configuration failed', { err: error }));
      },
    });

  return {
    metrics,
    isReady: readiness.ready,
    reload: (reason) => readiness.healthy() && reloader !== undefined && reloader.reload(reason),
    async start() {
      const grpcPort = await grpc.listen(config.listen.address, config.listen.grpcPort);
      const httpPort = await ops.listen(config.listen.address, config.listen.httpPort);
      const authzHttpPort = httpAuthz ? await httpAuthz.listen(config.listen.address, config.listen.authzHttpPort!) : undefined;
      sharedStore?.connect();
      refreshTimer = setInterval(() => core.refreshKeys(), config.authorizationServer.jwksRefreshSeconds * 1000).unref();
      reloader?.watch(core.config.reloadPollSeconds);
      log.info('listening', { grpcPort, httpPort, authzHttpPort, address: config.listen.address, pid: process.pid });
      readiness.started(core);
      return { grpcPort, httpPort, ...(authzHttpPort === undefined ? {} : { authzHttpPort }) };
    },
    async close() {
      readiness.closing();
      clearInterval(refreshTimer);
      reloader?.stop();
      await Promise.all([grpc.close(config.shutdownGraceMs), httpAuthz?.close(config.shutdownGraceMs)]);
      await ops.close();
      await core.retire();
      await sharedStore?.close();
    },
  };
}
