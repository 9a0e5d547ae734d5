import { createRemoteJWKSet, customFetch } from 'jose';
import { CheckPipeline } from './check/pipeline.js';
import { ResponseBuilder } from './check/response.js';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config/load.js';
import { ExchangeCache } from './exchange/cache.js';
import { TokenExchanger } from './exchange/token-exchange.js';
import { createCheckHandler } from './grpc/check-handler.js';
import { loadAuthorizationService } from './grpc/protos.js';
import { GrpcServer } from './grpc/server.js';
import { silentLogger, type Logger } from './log.js';
import { EndpointSource } from './oauth/discovery.js';
import { HttpClient } from './oauth/http.js';
import { OpsHttpServer } from './ops/http-server.js';
import { Metrics } from './ops/metrics.js';
import { resourceMetadata, resourceMetadataPaths } from './ops/resource-metadata.js';
import { JwtValidator } from './validation/jwt.js';

export interface AppOptions {
  readonly clock?: Clock;
  readonly log?: Logger;
}

export interface App {
  /** Binds both listeners; resolves with the bound ports. */
  start(): Promise<{ grpcPort: number; httpPort: number }>;
  /** Stops accepting, finishes in-flight checks (up to the grace period), closes everything. */
  close(): Promise<void>;
  readonly metrics: Metrics;
  isReady(): boolean;
}

/** Between attempts to discover the authorization server at start-up. */
const WARM_UP_RETRY_MS = 2000;

/**
 * Wires the service from a validated config. Nothing listens or calls out until
 * `start()`; tests build apps on port 0 and close them.
 */
export function buildApp(config: Config, options: AppOptions = {}): App {
  const clock = options.clock ?? systemClock;
  const log = options.log ?? silentLogger;
  const metrics = new Metrics();
  const http = new HttpClient(config.authorizationServer);
  const endpoints = new EndpointSource(http, config.issuer, config, clock, config.authorizationServer.allowInsecureHttp);

  // One remote key set for the issuer, created once its URI is known (jose caches keys and coalesces reloads).
  let keySet: ReturnType<typeof createRemoteJWKSet> | undefined;
  const keys = async () =>
    (keySet ??= createRemoteJWKSet(new URL((await endpoints.get()).jwksUri), {
      timeoutDuration: config.authorizationServer.timeoutMs,
      [customFetch]: http.fetch as never,
    }));

  const exchanger = new TokenExchanger(
    http,
    async () => (await endpoints.get()).tokenEndpoint,
    config.exchange,
    metrics,
    `${config.issuer} ${config.tokenEndpoint ?? 'discovered'}`,
  );
  const pipeline = new CheckPipeline({
    maxTokenBytes: config.validation.maxTokenBytes,
    requiredScopes: config.validation.requiredScopes,
    validator: new JwtValidator({
      issuer: config.issuer,
      audience: config.resourceUrl,
      algorithms: config.validation.algorithms,
      clockToleranceSeconds: config.validation.clockToleranceSeconds,
      keys,
      cacheMax: config.cache.max,
      clock,
    }),
    exchanger,
    cache: new ExchangeCache(config.cache.max, config.cache.ttlSeconds, clock, metrics),
  });
  const responses = new ResponseBuilder(config.resourceUrl, config.validation.requiredScopes);

  const grpc = new GrpcServer(loadAuthorizationService(), { Check: createCheckHandler(pipeline, responses, metrics, log) });
  let listening = false;
  let warm = false;
  let closing = false;
  /** Ready once the endpoints are known and the issuer's keys loaded; an outage after that does not flip it. */
  const isReady = () => listening && warm && !closing;
  const ops = new OpsHttpServer({
    healthy: () => !closing,
    ready: isReady,
    metrics: () => metrics.render(),
    metadata: JSON.stringify(resourceMetadata(config.resourceUrl, config.issuer, config.validation.requiredScopes)),
    metadataPaths: resourceMetadataPaths(config.resourceUrl),
  });

  let warmUpTimer: NodeJS.Timeout | undefined;
  /** Discover endpoints and load keys before the first check needs them; retry until it works. */
  const warmUp = async () => {
    try {
      await (await keys()).reload();
      warm = true;
      grpc.setServing(true);
      log.info('authorization server ready', { issuer: config.issuer });
    } catch (error) {
      if (closing) return;
      log.warn('authorization server not reachable yet; retrying', { issuer: config.issuer, err: error });
      warmUpTimer = setTimeout(warmUp, WARM_UP_RETRY_MS).unref();
    }
  };

  return {
    metrics,
    isReady,
    async start() {
      const grpcPort = await grpc.listen(config.listen.address, config.listen.grpcPort);
      const httpPort = await ops.listen(config.listen.address, config.listen.httpPort);
      listening = true;
      log.info('listening', { grpcPort, httpPort, address: config.listen.address });
      void warmUp();
      return { grpcPort, httpPort };
    },
    async close() {
      closing = true;
      clearTimeout(warmUpTimer);
      await grpc.close(config.shutdownGraceMs);
      await ops.close();
      await http.close();
    },
  };
}
