import { createRemoteJWKSet, customFetch } from 'jose';
import { CheckPipeline } from './check/pipeline.js';
import { ResponseBuilder } from './check/response.js';
import { systemClock, type Clock } from './clock.js';
import type { ClientConfig, Config, IssuerConfig, TargetConfig } from './config/model.js';
import { ExchangeCache } from './exchange/cache.js';
import { TargetSelector } from './exchange/targets.js';
import { TokenExchanger } from './exchange/token-exchange.js';
import { createCheckHandler, logDecision } from './grpc/check-handler.js';
import { HttpAuthzServer } from './http-authz/server.js';
import { loadAuthorizationService } from './grpc/protos.js';
import { GrpcServer } from './grpc/server.js';
import { silentLogger, type Logger } from './log.js';
import { clientAuthentication } from './oauth/client-auth.js';
import { MetadataSource, required } from './oauth/discovery.js';
import { HttpClient } from './oauth/http.js';
import { OpsHttpServer } from './ops/http-server.js';
import { Metrics } from './ops/metrics.js';
import { resourceMetadata, resourceMetadataPaths } from './ops/resource-metadata.js';
import { Tracing } from './ops/tracing.js';
import { IntrospectionValidator } from './validation/introspection.js';
import { JwtValidator } from './validation/jwt.js';
import { TokenValidator, type IssuerValidator } from './validation/token-validator.js';

export interface AppOptions {
  readonly clock?: Clock;
  readonly log?: Logger;
}

export interface App {
  /** Binds both listeners; resolves with the bound ports. */
  start(): Promise<{ grpcPort: number; httpPort: number; authzHttpPort?: number }>;
  /** Stops accepting, finishes in-flight checks (up to the grace period), closes everything. */
  close(): Promise<void>;
  readonly metrics: Metrics;
  isReady(): boolean;
}

/** Between attempts to reach the authorization servers at start-up. */
const WARM_UP_RETRY_MS = 2000;


/**
 * Wires the service from a validated config. Nothing listens or calls out until
 * `start()`; tests build apps on port 0 and close them.
 */
export function buildApp(config: Config, options: AppOptions = {}): App {
  const clock = options.clock ?? systemClock;
  const log = options.log ?? silentLogger;
  const metrics = new Metrics();
  const { authorizationServer: limits } = config;
  const tracing = config.tracing ? new Tracing() : undefined;

  // One bounded HTTP client, plus one per client certificate (the certificate belongs to the connection).
  const http = new HttpClient(limits);
  const mtlsClients = new Map<string, HttpClient>();
  const httpFor = (client: ClientConfig) => {
    if (!client.tls) return http;
    const key = `${client.id}\n${client.tls.cert}`;
    if (!mtlsClients.has(key)) mtlsClients.set(key, new HttpClient({ ...limits, clientCertificate: client.tls }));
    return mtlsClients.get(key)!;
  };

  const metadata = new Map(config.issuers.map((issuer) => [issuer.issuer, new MetadataSource(http, issuer.issuer, clock, limits.allowInsecureHttp)]));
  // Every target names one of the configured issuers (checked by loadConfig).
  const metadataOf = (issuer: string) => metadata.get(issuer)!;

  /** jose's JWKS fetches go through the shared client and are counted. */
  const countedFetch: typeof http.fetch = async (url, init) => {
    try {
      const response = await http.fetch(url, init);
      metrics.jwksFetch(response.status === 200 ? 'ok' : `http_${response.status}`);
      return response;
    } catch (error) {
      metrics.jwksFetch('unavailable');
      throw error;
    }
  };

  // One remote key set per issuer, created once its URI is known (jose caches keys and coalesces reloads).
  const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
  const keysOf = (issuer: IssuerConfig) => async () => {
    const uri = issuer.jwksUri ?? required((await metadataOf(issuer.issuer).get()).jwksUri, 'jwks_uri', 'JWKS_URI');
    if (!keySets.has(issuer.issuer)) {
      // Keys never expire on their own (cacheMaxAge: Infinity): a JWKS outage must not fail checks whose keys are held.
      // They are refreshed in the background (JWKS_REFRESH_SECONDS), and an unknown kid reloads them at most once per JWKS_COOLDOWN_SECONDS.
      keySets.set(
        issuer.issuer,
        createRemoteJWKSet(new URL(uri), { timeoutDuration: limits.timeoutMs, cacheMaxAge: Infinity, cooldownDuration: limits.jwksCooldownSeconds * 1000, [customFetch]: countedFetch as never }),
      );
    }
    return keySets.get(issuer.issuer)!;
  };

  const validatorOf = (issuer: IssuerConfig): IssuerValidator =>
    issuer.introspection
      ? new IntrospectionValidator(
          issuer,
          httpFor(issuer.introspection.client),
          clientAuthentication(issuer.introspection.client, issuer.issuer, clock),
          {
            clockToleranceSeconds: config.validation.clockToleranceSeconds,
            maxCacheSeconds: config.cache.introspectionMaxSeconds,
            inactiveCacheSeconds: config.cache.introspectionInactiveSeconds,
            cacheMax: config.cache.max,
          },
          clock,
          metrics,
          tracing,
        )
      : new JwtValidator(issuer, keysOf(issuer), config.validation.clockToleranceSeconds, clock);
  const validators = new Map(config.issuers.map((issuer) => [issuer.issuer, validatorOf(issuer)]));
  const introspecting = config.issuers.find((issuer) => issuer.introspection);

  // RFC 8705 §5: a client authenticating with its certificate uses the mTLS alias of the token endpoint when there is one.
  const tokenEndpointOf = (target: TargetConfig) => async () => {
    if (target.tokenEndpoint !== undefined) return target.tokenEndpoint;
    const discovered = await metadataOf(target.issuer).get();
    const alias = target.client.authMethod === 'tls_client_auth' ? discovered.mtlsTokenEndpoint : undefined;
    return alias ?? required(discovered.tokenEndpoint, 'token_endpoint', 'TOKEN_EXCHANGE_ENDPOINT_URL');
  };
  const exchangers = config.targets.map(
    (target) => new TokenExchanger(target, httpFor(target.client), tokenEndpointOf(target), clientAuthentication(target.client, target.issuer, clock), metrics, clock, tracing),
  );

  const allScopes = [...new Set(config.targets.flatMap((target) => target.requiredScopes))];
  const metadataDocument = JSON.stringify(resourceMetadata(config.resourceUrl, config.issuers.map((issuer) => issuer.issuer), allScopes));
  const metadataPaths = resourceMetadataPaths(config.resourceUrl);
  const responses = new ResponseBuilder(config.resourceUrl, metadataDocument);
  // The cache keeps each exchanged token as its encoded allow answer: a hit sends bytes built once.
  const cache = new ExchangeCache(config.cache.max, config.cache.ttlSeconds, clock, metrics, (value, principal, exchanger) => responses.keepEncoded(value, principal, exchanger));
  metrics.cacheSize = () => cache.size;
  const pipeline = new CheckPipeline({
    maxTokenBytes: config.validation.maxTokenBytes,
    validator: new TokenValidator(validators, introspecting ? validators.get(introspecting.issuer) : undefined, config.cache.max, clock),
    targets: new TargetSelector(exchangers, config),
    cache,
    metadataPaths: new Set(config.serveResourceMetadata ? metadataPaths : []),
    tracing,
  });

  const headerLimits = { maxHeaders: config.grpc.maxRequestHeaders, maxHeaderBytes: config.grpc.maxRequestHeaderBytes };
  const grpc = new GrpcServer(loadAuthorizationService(headerLimits), { Check: createCheckHandler(pipeline, responses, metrics, log) }, config.grpc);
  const httpAuthz =
    config.listen.authzHttpPort === undefined
      ? undefined
      : new HttpAuthzServer({
          pipeline,
          responses,
          log,
          maxHeaderBytes: Math.max(32 * 1024, config.validation.maxTokenBytes + 16 * 1024),
          ...config.authzHttp,
          onDecision: (decision, seconds) => {
            metrics.check(decision.allowed ? 'allowed' : decision.error.code, decision.exchanger?.target.name ?? '', seconds);
            logDecision(log, decision, seconds);
          },
        });
  let listening = false;
  let warm = false;
  let closing = false;
  /** Ready once every issuer's keys (or metadata) and every discovered token endpoint are loaded; a later outage does not flip it. */
  const isReady = () => listening && warm && !closing;
  const ops = new OpsHttpServer({
    healthy: () => !closing,
    ready: isReady,
    metrics: () => metrics.render(),
    metricsContentType: metrics.contentType,
    metadata: metadataDocument,
    metadataPaths,
  }, config.opsHttp);

  let warmUpTimer: NodeJS.Timeout | undefined;
  let refreshTimer: NodeJS.Timeout | undefined;
  const refreshKeys = () => {
    for (const keys of keySets.values()) keys.reload().catch(() => {}); // on failure the held keys stay
  };
  /** Discover endpoints and load keys before the first check needs them; retry until it works. */
  const warmUp = async () => {
    try {
      for (const issuer of config.issuers) if (!issuer.introspection) await (await keysOf(issuer)()).reload();
      for (const target of config.targets) await tokenEndpointOf(target)();
      warm = true;
      grpc.setServing(true);
      log.info('authorization server ready', { issuers: config.issuers.map((issuer) => issuer.issuer) });
    } catch (error) {
      if (closing) return;
      log.warn('authorization server not reachable yet; retrying', { err: error });
      warmUpTimer = setTimeout(warmUp, WARM_UP_RETRY_MS).unref();
    }
  };

  return {
    metrics,
    isReady,
    async start() {
      const grpcPort = await grpc.listen(config.listen.address, config.listen.grpcPort);
      const httpPort = await ops.listen(config.listen.address, config.listen.httpPort);
      const authzHttpPort = httpAuthz ? await httpAuthz.listen(config.listen.address, config.listen.authzHttpPort!) : undefined;
      listening = true;
      refreshTimer = setInterval(refreshKeys, limits.jwksRefreshSeconds * 1000).unref();
      log.info('listening', { grpcPort, httpPort, authzHttpPort, address: config.listen.address, pid: process.pid });
      void warmUp();
      return { grpcPort, httpPort, ...(authzHttpPort === undefined ? {} : { authzHttpPort }) };
    },
    async close() {
      closing = true;
      clearTimeout(warmUpTimer);
      clearInterval(refreshTimer);
      await Promise.all([grpc.close(config.shutdownGraceMs), httpAuthz?.close(config.shutdownGraceMs)]);
      await ops.close();
      await Promise.all([http, ...mtlsClients.values()].map((client) => client.close()));
    },
  };
}
