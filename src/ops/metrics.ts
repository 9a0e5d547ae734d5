/** A Prometheus counter, optionally with one label. */
export class Counter {
  readonly #values = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly label?: string,
  ) {}

  inc(labelValue = ''): void {
    this.#values.set(labelValue, (this.#values.get(labelValue) ?? 0) + 1);
  }

  value(labelValue = ''): number {
    return this.#values.get(labelValue) ?? 0;
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (!this.label) lines.push(`${this.name} ${this.value()}`);
    for (const [labelValue, count] of this.#values) {
      if (this.label) lines.push(`${this.name}{${this.label}="${labelValue}"} ${count}`);
    }
    return lines.join('\n');
  }
}

/** The service's metrics; `/metrics` renders them. */
export class Metrics {
  readonly checks = new Counter('authz_checks_total', 'Checks answered, by outcome.', 'outcome');
  readonly cacheHits = new Counter('authz_exchange_cache_hits_total', 'Exchanges answered from the cache.');
  readonly cacheMisses = new Counter('authz_exchange_cache_misses_total', 'Exchanges not in the cache (coalesced waiters included).');
  readonly exchanges = new Counter('authz_exchange_calls_total', 'Calls to the token endpoint, by outcome.', 'outcome');

  render(): string {
    return [this.checks, this.cacheHits, this.cacheMisses, this.exchanges].map((counter) => counter.render()).join('\n') + '\n';
  }
}
