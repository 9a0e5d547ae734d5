import type { CheckRequest } from './request/check-request.js';
import { CheckPipeline, type Decision } from './check/pipeline.js';
import type { Clock } from './clock.js';
import type { Config, IssuerConfig, TargetConfig } from './config/model.js';
import type { ExchangeCache } from './exchange/cache.js';
import { TargetSelector } from './exchange/targets.js';
import { TokenExchanger } from './exchange/token-exchange.js';
import { loggableUrl, type Logger } from './log.js';
import { clientAuthentication } from './oauth/client-auth.js';
import { Issuers } from './oauth/issuers.js';
import type { Metrics } from './ops/metrics.js';
import type { TraceParent, Tracing } from './ops/tracing.js';
import { backoffDelay } from './retry.js';
import { IntrospectionValidator } from './validation/introspection.js';
import { JwtValidator } from './validation/jwt.js';
import type { Principals } from './validation/principal.js';
import { TokenValidator, type IssuerValidator } from './validation/token-validator.js';

/** What a core shares with the app around it: these outlive a reload. */
export interface CoreDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** the exchange cache; its keys carry each target's identity, so a changed target never hits old entries (SPEC §4) */
  readonly cache: ExchangeCache;
  readonly tracing: Tracing | undefined;
  /** RFC 9728 metadata paths a Check may be answered for directly */
  readonly metadataPaths: readonly string[];
  /** builds principals, holding repeated claims once; outlives a reload */
  readonly principals: Principals;
}

/**
 * Everything built from one configuration: the issuers (HTTP clients,
 * discovery, key sets, token endpoints), validators, client authentication,
 * exchangers, target selection and the pipeline. A reload builds a new core
 * and retires the old one (SPEC §5).
 */
export interface Core {
  readonly config: Config;
  /** the Check path; in-flight (asynchronous) decisions are counted so that retiring waits for them */
  decide(request: CheckRequest, parent?: TraceParent): Decision | Promise<Decision>;
  /** Discovers endpoints and loads keys, retrying until done; `onWarm` once every one is loaded. */
  warmUp(onWarm: () => void): void;
  /** one per target, for the breaker-state gauge */
  readonly exchangers: readonly TokenExchanger[];
  /** Refreshes the key sets held (on failure the held keys stay). */
  refreshKeys(): void;
  /** Stops retrying; closes the HTTP clients once the checks in flight on this core have finished. */
  retire(): Promise<void>;
}

/** Builds a core from a validated configuration. Nothing calls out until a check or `warmUp`. */
export function buildCore(config: Config, deps: CoreDeps): Core {
  const { clock, log, metrics } = deps;
  const issuers = new Issuers(config, { clock, tracer: deps.tracing, onJwksFetch: (outcome) => metrics.jwksFetch(outcome) });
  const keysOf = (issuer: IssuerConfig) => () => issuers.keysOf(issuer);
  const tokenEndpointOf = (target: TargetConfig) => () => issuers.tokenEndpointOf(target);

  const validatorOf = (issuer: IssuerConfig): IssuerValidator =>
    issuer.introspection
      ? new IntrospectionValidator(
          issuer,
          issuers.httpFor(issuer.introspection.client),
          clientAuthentication(issuer.introspection.client, issuer.issuer, clock),
          {
            clockToleranceSeconds: config.validation.clockToleranceSeconds,
            maxCacheSeconds: config.cache.introspectionMaxSeconds,
            inactiveCacheSeconds: config.cache.introspectionInactiveSeconds,
            cacheMax: config.cache.max,
          },
          clock,
          metrics,
          deps.principals,
        )
      : new JwtValidator(issuer, keysOf(issuer), config.validation.clockToleranceSeconds, clock, deps.principals);
  const validators = new Map(config.issuers.map((issuer) => [issuer.issuer, validatorOf(issuer)]));
  const introspecting = config.issuers.find((issuer) => issuer.introspection);

  const exchangers = config.targets.map(
    (target) => new TokenExchanger(target, issuers.httpFor(target.client), tokenEndpointOf(target), clientAuthentication(target.client, target.issuer, clock), metrics, clock),
  );

  const pipeline = new CheckPipeline({
    maxTokenBytes: config.validation.maxTokenBytes,
    validator: new TokenValidator(validators, introspecting ? validators.get(introspecting.issuer) : undefined, config.cache.max, clock),
    targets: new TargetSelector(exchangers, config),
    cache: deps.cache,
    metadataPaths: new Set(config.serveResourceMetadata ? deps.metadataPaths : []),
  });

  let inFlight = 0;
  let retired = false;
  let warmUpTimer: NodeJS.Timeout | undefined;
  let drained: () => void = () => {};
  const settled = () => {
    if (--inFlight === 0 && retired) drained();
  };

  return {
    config,
    decide(request, parent) {
      const decision = pipeline.decide(request, parent);
      if (decision instanceof Promise) {
        inFlight++;
        decision.then(settled, settled);
      }
      return decision;
    },
    exchangers,
    warmUp(onWarm) {
      /** What start-up loads, each with the URL it reaches first (the issuer's discovery when an endpoint is not configured). */
      const steps = [
        ...config.issuers.filter((issuer) => !issuer.introspection).map((issuer) => ({ url: issuer.jwksUri ?? issuer.issuer, load: async () => (await keysOf(issuer)()).reload() })),
        ...config.targets.map((target) => ({ url: target.tokenEndpoint ?? target.issuer, load: tokenEndpointOf(target) })),
      ];
      let failures = 0;
      /** Retries with exponential backoff and full jitter, up to 30 s, naming the URL (never credentials or query). */
      const attempt = async () => {
        let url = '';
        try {
          for (const step of steps) {
            url = step.url;
            await step.load();
          }
          if (!retired) onWarm();
        } catch (error) {
          if (retired) return;
          const retryInMs = backoffDelay(failures++);
          log.warn('authorization server not reachable yet; retrying', { url: loggableUrl(url), attempt: failures, retry_in_ms: retryInMs, err: error });
          warmUpTimer = setTimeout(attempt, retryInMs).unref();
        }
      };
      void attempt();
    },
    refreshKeys() {
      issuers.refreshKeys();
    },
    async retire() {
      retired = true;
      clearTimeout(warmUpTimer);
      if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
      await issuers.close();
    },
  };
}
