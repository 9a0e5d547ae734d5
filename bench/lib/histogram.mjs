// Bounded latency recorder: keeps up to `capacity` samples (reservoir sampling
// beyond that, so percentiles stay unbiased), exact count / min / max / mean,
// and percentiles from a sorted copy.

export class LatencyRecorder {
  #samples;
  #stored = 0;
  #random = xorshift(0x9e3779b9);
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  constructor(capacity = 1_000_000) {
    this.#samples = new Float64Array(capacity);
  }

  record(value) {
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    if (this.#stored < this.#samples.length) {
      this.#samples[this.#stored++] = value;
      return;
    }
    // Algorithm R: keep each of the `count` samples with probability capacity / count.
    const slot = Math.floor(this.#random() * this.count);
    if (slot < this.#samples.length) this.#samples[slot] = value;
  }

  /** { p50, p90, p99, p999, min, max, mean, count } (NaN when empty); values in the unit recorded. */
  summary() {
    const sorted = this.#samples.slice(0, this.#stored).sort();
    const at = (p) => percentileOfSorted(sorted, p);
    return {
      count: this.count,
      min: this.count ? this.min : NaN,
      mean: this.count ? this.sum / this.count : NaN,
      p50: at(50),
      p90: at(90),
      p99: at(99),
      p999: at(99.9),
      max: this.count ? this.max : NaN,
      sampled: this.#stored < this.count,
    };
  }
}

/** Nearest-rank percentile of an ascending array. */
export function percentileOfSorted(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

function xorshift(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}
