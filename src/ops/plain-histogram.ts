import type { Registry } from 'prom-client';

/** One labelled series of a {@link PlainHistogram}. */
export class HistogramSeries {
  /** observations per bucket (not cumulative: summed at scrape time) */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly upperBounds: readonly number[],
  ) {
    this.counts = new Float64Array(upperBounds.length);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const bounds = this.upperBounds;
    let bucket = 0;
    while (bucket < bounds.length && value > bounds[bucket]!) bucket++;
    if (bucket < bounds.length) this.counts[bucket]! += 1;
    this.sum += value;
    this.count += 1;
  }
}

/** A sample as prom-client's registry prints it: `labels` first (`le`), then the series' own. */
interface Sample {
  readonly metricName: string;
  readonly value: number;
  readonly labels: Record<string, string | number>;
  readonly sharedLabels: Readonly<Record<string, string>>;
}

/**
 * A Prometheus histogram observed on every Check, kept as plain counts and
 * turned into samples only when scraped, as the per-Check counters are
 * (ops/metrics.ts). prom-client's own Histogram hashes its labels, validates
 * them and allocates a closure on every observation, even through a bound
 * child (about 5 µs per Check in the bench's CPU profile); here an observation
 * is a bucket search and three additions. It registers with prom-client's
 * registry as any metric does (`registerMetric`, which reads `name`, `help`,
 * `type` and the samples), so the exposition is prom-client's: the same text,
 * `le` first, as its Histogram prints.
 */
export class PlainHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #series: HistogramSeries[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    private readonly upperBounds: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** A new series for these label values: callers keep it (one per distinct label set) and observe on it. */
  series(labels: Readonly<Record<string, string>>): HistogramSeries {
    const series = new HistogramSeries(labels, this.upperBounds);
    this.#series.push(series);
    return series;
  }

  /** What the registry prints (its text format). */
  async getForPromString(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    const values: Sample[] = [];
    for (const series of this.#series) {
      let cumulative = 0;
      this.upperBounds.forEach((le, bucket) => {
        cumulative += series.counts[bucket]!;
        values.push({ metricName: `${this.name}_bucket`, value: cumulative, labels: { le }, sharedLabels: series.labels });
      });
      values.push({ metricName: `${this.name}_bucket`, value: series.count, labels: { le: '+Inf' }, sharedLabels: series.labels });
      values.push({ metricName: `${this.name}_sum`, value: series.sum, labels: {}, sharedLabels: series.labels });
      values.push({ metricName: `${this.name}_count`, value: series.count, labels: {}, sharedLabels: series.labels });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** The same samples with each one's labels in one object (the registry's JSON form). */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Array<{ metricName: string; value: number; labels: Record<string, string | number> }> }> {
    const data = await this.getForPromString();
    return { ...data, values: data.values.map(({ metricName, value, labels, sharedLabels }) => ({ metricName, value, labels: { ...labels, ...sharedLabels } })) };
  }

  /** Every series back to zero (the registry's `resetMetrics`). */
  reset(): void {
    for (const series of this.#series) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}
