import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Seconds; fine-grained below a millisecond, where cache hits live. */
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * The service's Prometheus metrics, in a registry of their own (one per app).
 * Label children are memoised so the Check path does no label hashing.
 */
export class Metrics {
  readonly registry = new Registry();
  /** Check counts and latencies, by outcome then target: plain numbers on the hot path, turned into series at scrape time. */
  readonly #checkSeries = new Map<string, Map<string, CheckSeries>>();
  readonly #exchanges = new Counter({ name: 'authz_exchange_calls_total', help: 'Calls to the token endpoint, by outcome.', labelNames: ['outcome'], registers: [this.registry] });
  readonly #exchangeSeconds = new Histogram({ name: 'authz_exchange_duration_seconds', help: 'Time of a call to the token endpoint, by outcome.', labelNames: ['outcome'], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly #introspections = new Counter({ name: 'authz_introspection_calls_total', help: 'Calls to the introspection endpoint, by outcome.', labelNames: ['outcome'], registers: [this.registry] });
  readonly #introspectionSeconds = new Histogram({ name: 'authz_introspection_duration_seconds', help: 'Time of a call to the introspection endpoint, by outcome.', labelNames: ['outcome'], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  /** Counted as a plain number on the hot path, reported at scrape time. */
  #cacheHitCount = 0;
  readonly #cacheMisses = new Counter({ name: 'authz_exchange_cache_misses_total', help: 'Exchanges not in the cache (coalesced waiters included).', registers: [this.registry] });
  readonly #cacheEvictions = new Counter({ name: 'authz_exchange_cache_evictions_total', help: 'Exchanged tokens dropped to stay within EXCHANGE_CACHE_MAX.', registers: [this.registry] });
  readonly #jwksFetches = new Counter({ name: 'authz_jwks_fetches_total', help: 'JWK Set fetches (start-up, rotation, unknown kid), by outcome.', labelNames: ['outcome'], registers: [this.registry] });
  readonly #configReloads = new Counter({ name: 'authz_config_reloads_total', help: 'Configuration reloads (SIGHUP or a changed file), by result: ok, or failed (the running configuration stays).', labelNames: ['result'], registers: [this.registry] });
  readonly #children = new Map<string, { inc(): void } | { observe(value: number): void }>();

  /** Reports the exchange cache's size at scrape time; the app points it at the cache. */
  cacheSize: () => number = () => 0;

  constructor() {
    const series = this.#checkSeries;
    new Counter({
      name: 'authz_checks_total',
      help: 'Checks answered, by outcome and exchange target.',
      labelNames: ['outcome', 'target'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [outcome, byTarget] of series) for (const [target, counts] of byTarget) this.inc({ outcome, target }, counts.count);
      },
    });
    this.registry.registerMetric(new CheckDurationHistogram(series) as unknown as Histogram);
    const hits = () => this.#cacheHitCount;
    new Counter({ name: 'authz_exchange_cache_hits_total', help: 'Exchanges answered from the cache.', registers: [this.registry], collect() { this.reset(); this.inc(hits()); } });
    const size = () => this.cacheSize();
    new Gauge({ name: 'authz_exchange_cache_entries', help: 'Exchanged tokens held in the cache.', registers: [this.registry], collect() { this.set(size()); } });
    // Process metrics, including nodejs_eventloop_lag_* (event-loop delay) and resident memory.
    collectDefaultMetrics({ register: this.registry });
  }

  check(outcome: string, target: string, seconds: number): void {
    let byTarget = this.#checkSeries.get(outcome);
    if (!byTarget) this.#checkSeries.set(outcome, (byTarget = new Map()));
    let series = byTarget.get(target);
    if (!series) byTarget.set(target, (series = new CheckSeries()));
    series.observe(seconds);
  }

  exchange(outcome: string, seconds: number): void {
    this.#child(this.#exchanges, outcome).inc();
    this.#histogram(this.#exchangeSeconds, outcome).observe(seconds);
  }

  introspection(outcome: string, seconds: number): void {
    this.#child(this.#introspections, outcome).inc();
    this.#histogram(this.#introspectionSeconds, outcome).observe(seconds);
  }

  cacheHit(): void {
    this.#cacheHitCount += 1;
  }

  cacheMiss(): void {
    this.#cacheMisses.inc();
  }

  cacheEviction(): void {
    this.#cacheEvictions.inc();
  }

  jwksFetch(outcome: string): void {
    this.#child(this.#jwksFetches, outcome).inc();
  }

  /** One reload of the configuration (SPEC §5), applied (`ok`) or refused (`failed`). */
  configReload(result: 'ok' | 'failed'): void {
    this.#configReloads.inc({ result });
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

  #child(counter: Counter<string>, ...labels: string[]): { inc(): void } {
    const key = `${(counter as unknown as { name: string }).name}\0${labels.join('\0')}`;
    let child = this.#children.get(key) as { inc(): void } | undefined;
    if (!child) this.#children.set(key, (child = counter.labels(...labels)));
    return child;
  }

  #histogram(histogram: Histogram<string>, outcome: string): { observe(value: number): void } {
    const key = `${(histogram as unknown as { name: string }).name}\0${outcome}`;
    let child = this.#children.get(key) as { observe(value: number): void } | undefined;
    if (!child) this.#children.set(key, (child = histogram.labels(outcome)));
    return child;
  }
}

/** One (outcome, target) series of checks: a count, a sum and cumulative-at-scrape bucket counts. */
class CheckSeries {
  count = 0;
  sum = 0;
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length);

  observe(seconds: number): void {
    this.count += 1;
    this.sum += seconds;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= LATENCY_BUCKETS[i]!) {
        this.buckets[i]! += 1;
        return;
      }
    }
  }
}

/**
 * `authz_check_duration_seconds` by outcome, rendered by prom-client's registry
 * from the check series (prom-client's own histogram hashes its labels on every
 * observation, which is most of a metric's cost on the hot path).
 */
class CheckDurationHistogram {
  readonly name = 'authz_check_duration_seconds';
  readonly help = 'Time to answer a Check, by outcome.';
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(private readonly series: ReadonlyMap<string, ReadonlyMap<string, CheckSeries>>) {}

  async get() {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    for (const [outcome, byTarget] of this.series) {
      const buckets = new Float64Array(LATENCY_BUCKETS.length);
      let count = 0;
      let sum = 0;
      for (const series of byTarget.values()) {
        count += series.count;
        sum += series.sum;
        series.buckets.forEach((n, i) => (buckets[i]! += n));
      }
      let cumulative = 0;
      LATENCY_BUCKETS.forEach((le, i) => {
        cumulative += buckets[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le, outcome }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', outcome }, value: count });
      values.push({ metricName: `${this.name}_sum`, labels: { outcome }, value: sum });
      values.push({ metricName: `${this.name}_count`, labels: { outcome }, value: count });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}
