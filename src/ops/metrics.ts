import { status as GrpcStatus } from '@grpc/grpc-js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { PlainHistogram } from './plain-histogram.js';

/** Every series of the service's own carries this prefix (the gRPC and HTTP server series follow their conventions instead). */
export const METRIC_PREFIX = 'authz_';

/** Seconds; fine-grained below a millisecond, where cache hits live. */
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The one gRPC method served, labelled as go-grpc-prometheus labels it. */
const CHECK_METHOD = { grpc_type: 'unary', grpc_service: 'envoy.service.auth.v3.Authorization', grpc_method: 'Check' } as const;
/** google.rpc.Code 0–16. */
const GRPC_CODES = 17;

/** OpenTelemetry's `http.request.method`: the known methods, anything else `_OTHER` (keeps the label bounded). */
const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/** prom-client's defaults that are gauges named `_total` (promtool rejects them); the per-type gauges without the suffix stay. */
const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export interface BuildInfo {
  readonly version: string;
  readonly nodeVersion: string;
}

/**
 * The service's Prometheus metrics, in a registry of their own (one per app),
 * through prom-client's public API (the per-Check histograms are metrics of
 * our own, registered with `registerMetric`).
 *
 * Counters touched on every Check are plain numbers turned into series at
 * scrape time by the metric's `collect()` hook: a prom-client counter update
 * hashes its labels, about 0.6 µs each, and a Check touches four of them. The
 * duration histograms a Check observes are plain counts too
 * (ops/plain-histogram.ts); the others (calls out) are prom-client's own.
 */
export class Metrics {
  readonly registry = new Registry();
  /** Checks by outcome, then target. */
  readonly #checks = new Map<string, Map<string, number>>();
  #grpcStarted = 0;
  /** gRPC Checks handled, by the CheckResponse's status code. */
  readonly #grpcHandled = new Float64Array(GRPC_CODES);
  #cacheHits = 0;

  readonly #grpcSeconds = new PlainHistogram(
    'grpc_server_handling_seconds',
    'Time to answer a gRPC Check; grpc_code is the status code in the CheckResponse (the call itself always succeeds).',
    ['grpc_type', 'grpc_service', 'grpc_method', 'grpc_code'],
    LATENCY_BUCKETS,
    this.registry,
  );
  readonly #grpcSecondsByCode = memo((code: string) => this.#grpcSeconds.series({ ...CHECK_METHOD, grpc_code: code }));
  readonly #httpSeconds = new PlainHistogram(
    'http_server_request_duration_seconds',
    'Time to answer an HTTP authorization request (OpenTelemetry HTTP server semantic conventions); _count is the request count.',
    ['http_request_method', 'http_response_status_code'],
    LATENCY_BUCKETS,
    this.registry,
  );
  readonly #httpSecondsBy = memo((key: string) => {
    const [method, code] = key.split(' ') as [string, string];
    return this.#httpSeconds.series({ http_request_method: method, http_response_status_code: code });
  });

  readonly #exchanges = new Counter({ name: `${METRIC_PREFIX}exchange_calls_total`, help: 'Calls to the token endpoint, by outcome (breaker_open: not called).', labelNames: ['outcome'], registers: [this.registry] });
  readonly #exchangesBy = memo((outcome: string) => this.#exchanges.labels(outcome));
  readonly #exchangeSeconds = new Histogram({ name: `${METRIC_PREFIX}exchange_duration_seconds`, help: 'Time of a call to the token endpoint, by outcome.', labelNames: ['outcome'], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly #exchangeSecondsBy = memo((outcome: string) => this.#exchangeSeconds.labels(outcome));
  readonly #introspections = new Counter({ name: `${METRIC_PREFIX}introspection_calls_total`, help: 'Calls to the introspection endpoint, by outcome.', labelNames: ['outcome'], registers: [this.registry] });
  readonly #introspectionsBy = memo((outcome: string) => this.#introspections.labels(outcome));
  readonly #introspectionSeconds = new Histogram({ name: `${METRIC_PREFIX}introspection_duration_seconds`, help: 'Time of a call to the introspection endpoint, by outcome.', labelNames: ['outcome'], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly #introspectionSecondsBy = memo((outcome: string) => this.#introspectionSeconds.labels(outcome));
  readonly #cacheMisses = new Counter({ name: `${METRIC_PREFIX}exchange_cache_misses_total`, help: 'Exchanges not in the cache (coalesced waiters included).', registers: [this.registry] });
  readonly #cacheEvictions = new Counter({ name: `${METRIC_PREFIX}exchange_cache_evictions_total`, help: 'Exchanged tokens dropped to stay within EXCHANGE_CACHE_MAX.', registers: [this.registry] });
  readonly #jwksFetches = new Counter({ name: `${METRIC_PREFIX}jwks_fetches_total`, help: 'JWK Set fetches (start-up, rotation, unknown kid), by outcome.', labelNames: ['outcome'], registers: [this.registry] });
  readonly #jwksFetchesBy = memo((outcome: string) => this.#jwksFetches.labels(outcome));
  readonly #sharedHits = new Counter({ name: `${METRIC_PREFIX}shared_cache_hits_total`, help: 'Exchanges answered from the shared cache (REDIS_URL).', registers: [this.registry] });
  readonly #sharedMisses = new Counter({ name: `${METRIC_PREFIX}shared_cache_misses_total`, help: 'Shared-cache lookups that found nothing usable (errors included).', registers: [this.registry] });
  readonly #sharedErrors = new Counter({ name: `${METRIC_PREFIX}shared_cache_errors_total`, help: 'Shared-cache failures, each a miss or a dropped write, by reason.', labelNames: ['reason'], registers: [this.registry] });
  readonly #sharedErrorsBy = memo((reason: string) => this.#sharedErrors.labels(reason));
  readonly #sharedSeconds = new Histogram({ name: `${METRIC_PREFIX}shared_cache_duration_seconds`, help: 'Time of a shared-cache lookup, by outcome.', labelNames: ['outcome'], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly #sharedSecondsBy = memo((outcome: string) => this.#sharedSeconds.labels(outcome));
  readonly #configReloads = new Counter({ name: `${METRIC_PREFIX}config_reloads_total`, help: 'Configuration reloads (SIGHUP or a changed file), by result: ok, or failed (the running configuration stays).', labelNames: ['result'], registers: [this.registry] });
  readonly #configReloadsBy = memo((result: string) => this.#configReloads.labels(result));

  /** Reports the exchange cache's size at scrape time; the app points it at the cache. */
  cacheSize: () => number = () => 0;
  /** Reports each target's circuit breaker at scrape time (true: open); the app points it at the exchangers. */
  breakers: () => Iterable<readonly [target: string, open: boolean]> = () => [];

  constructor(build: BuildInfo) {
    const { registry } = this;
    const checks = this.#checks;
    new Counter({
      name: `${METRIC_PREFIX}checks_total`,
      help: 'Checks answered (gRPC and HTTP), by outcome and exchange target.',
      labelNames: ['outcome', 'target'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [outcome, byTarget] of checks) for (const [target, count] of byTarget) this.inc({ outcome, target }, count);
      },
    });
    const started = () => this.#grpcStarted;
    new Counter({
      name: 'grpc_server_started_total',
      help: 'gRPC calls started.',
      labelNames: ['grpc_type', 'grpc_service', 'grpc_method'],
      registers: [registry],
      collect() {
        this.reset();
        this.inc(CHECK_METHOD, started());
      },
    });
    const handled = this.#grpcHandled;
    new Counter({
      name: 'grpc_server_handled_total',
      help: 'gRPC calls completed, by the status code in the CheckResponse (the call itself always succeeds).',
      labelNames: ['grpc_type', 'grpc_service', 'grpc_method', 'grpc_code'],
      registers: [registry],
      collect() {
        this.reset();
        handled.forEach((count, code) => this.inc({ ...CHECK_METHOD, grpc_code: codeName(code) }, count));
      },
    });
    const hits = () => this.#cacheHits;
    new Counter({ name: `${METRIC_PREFIX}exchange_cache_hits_total`, help: 'Exchanges answered from the cache.', registers: [registry], collect() { this.reset(); this.inc(hits()); } });
    const size = () => this.cacheSize();
    new Gauge({ name: `${METRIC_PREFIX}exchange_cache_entries`, help: 'Exchanged tokens held in the cache.', registers: [registry], collect() { this.set(size()); } });
    const breakers = () => this.breakers();
    new Gauge({
      name: `${METRIC_PREFIX}exchange_breaker_open`,
      help: 'Whether the circuit breaker of a target\'s token endpoint is open (1: failing fast, no calls) or closed (0).',
      labelNames: ['target'],
      registers: [registry],
      collect() {
        for (const [target, open] of breakers()) this.set({ target }, open ? 1 : 0);
      },
    });
    new Gauge({ name: `${METRIC_PREFIX}build_info`, help: 'Always 1; the labels name the running build.', labelNames: ['version', 'node_version'], registers: [registry] }).set({ version: build.version, node_version: build.nodeVersion }, 1);

    // Process metrics, including nodejs_eventloop_lag_* (event-loop delay) and resident memory.
    collectDefaultMetrics({ register: registry });
    for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name);
  }

  /** One Check answered (either transport). */
  check(outcome: string, target: string): void {
    let byTarget = this.#checks.get(outcome);
    if (!byTarget) this.#checks.set(outcome, (byTarget = new Map()));
    byTarget.set(target, (byTarget.get(target) ?? 0) + 1);
  }

  /** A gRPC Check arrived. */
  grpcStarted(): void {
    this.#grpcStarted += 1;
  }

  /** A gRPC Check was answered with a CheckResponse whose `status.code` is `code`. */
  grpcHandled(code: number, seconds: number): void {
    this.#grpcHandled[code >= 0 && code < GRPC_CODES ? code : GrpcStatus.UNKNOWN]! += 1;
    this.#grpcSecondsByCode(codeName(code)).observe(seconds);
  }

  /** An HTTP authorization request was answered with `status`. */
  httpRequest(method: string | undefined, status: number, seconds: number): void {
    const known = method !== undefined && HTTP_METHODS.has(method) ? method : '_OTHER';
    this.#httpSecondsBy(`${known} ${status}`).observe(seconds);
  }

  exchange(outcome: string, seconds: number): void {
    this.#exchangesBy(outcome).inc();
    this.#exchangeSecondsBy(outcome).observe(seconds);
  }

  introspection(outcome: string, seconds: number): void {
    this.#introspectionsBy(outcome).inc();
    this.#introspectionSecondsBy(outcome).observe(seconds);
  }

  cacheHit(): void {
    this.#cacheHits += 1;
  }

  cacheMiss(): void {
    this.#cacheMisses.inc();
  }

  cacheEviction(): void {
    this.#cacheEvictions.inc();
  }

  sharedCache(outcome: 'hit' | 'miss', seconds: number): void {
    (outcome === 'hit' ? this.#sharedHits : this.#sharedMisses).inc();
    this.#sharedSecondsBy(outcome).observe(seconds);
  }

  sharedCacheError(reason: string): void {
    this.#sharedErrorsBy(reason).inc();
  }

  jwksFetch(outcome: string): void {
    this.#jwksFetchesBy(outcome).inc();
  }

  /** One reload of the configuration (SPEC §5), applied (`ok`) or refused (`failed`). */
  configReload(result: 'ok' | 'failed'): void {
    this.#configReloadsBy(result).inc();
  }

  /** Prometheus text exposition format. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The current value of one series (for tests and the demo); 0 when it has not been seen. */
  async value(name: string, labels: Record<string, string> = {}): Promise<number> {
    const metric = await this.registry.getSingleMetric(name)?.get();
    const series = metric?.values.find((value) => Object.entries(labels).every(([key, label]) => value.labels[key] === label));
    return series?.value ?? 0;
  }
}

/** `UNAUTHENTICATED` for 16: the name go-grpc-prometheus puts in `grpc_code`. */
function codeName(code: number): string {
  return GrpcStatus[code] ?? 'UNKNOWN';
}

/** One value per key, made on first use (label children, so the hot path skips building label objects). */
function memo<T>(make: (key: string) => T): (key: string) => T {
  const made = new Map<string, T>();
  return (key) => {
    let value = made.get(key);
    if (value === undefined) made.set(key, (value = make(key)));
    return value;
  };
}
