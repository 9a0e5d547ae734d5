import t from 'tap';
import { Histogram, Registry } from 'prom-client';
import { PlainHistogram } from '../../src/ops/plain-histogram.js';

const BUCKETS = [0.0001, 0.001, 0.01, 0.1, 1];
/** Below, on and between the bounds, past the last, zero, and a value not to count. */
const VALUES = [0, 0.00005, 0.0001, 0.00011, 0.001, 0.005, 0.01, 0.1, 0.5, 1, 1.0000001, 7, 1e-9];

/** The same observations through prom-client's Histogram and through a PlainHistogram, each in a registry of its own. */
async function exposition(observe: (labels: Record<string, string>, value: number) => void, registry: Registry) {
  for (const [i, value] of VALUES.entries()) observe({ method: 'Check', code: i % 3 === 0 ? 'OK' : 'PERMISSION_DENIED' }, value);
  return { text: await registry.metrics(), json: await registry.getMetricsAsJSON() };
}

t.test('scraped, a PlainHistogram reads exactly as prom-client\'s Histogram of the same observations', async (t) => {
  const theirs = new Registry();
  const reference = new Histogram({ name: 'x_seconds', help: 'Time of x.', labelNames: ['method', 'code'], buckets: BUCKETS, registers: [theirs] });
  const expected = await exposition((labels, value) => reference.labels(labels).observe(value), theirs);

  const ours = new Registry();
  const plain = new PlainHistogram('x_seconds', 'Time of x.', ['method', 'code'], BUCKETS, ours);
  const series = new Map<string, ReturnType<PlainHistogram['series']>>();
  const found = await exposition((labels, value) => {
    const key = `${labels.method} ${labels.code}`;
    if (!series.has(key)) series.set(key, plain.series(labels));
    series.get(key)!.observe(value);
  }, ours);

  t.equal(found.text, expected.text, 'the text format, line for line');
  // The JSON form: the same samples (prom-client adds exemplar slots, which these series never have).
  const samples = (json: typeof found.json) => json.flatMap((metric) => metric.values.map((sample) => ({ metricName: (sample as { metricName?: string }).metricName, value: sample.value, labels: sample.labels })));
  t.strictSame(samples(found.json), samples(expected.json), 'the JSON form: the same samples');
  t.match(found.text, /^x_seconds_bucket\{le="0.001",method="Check",code="OK"\} 3$/m, 'cumulative counts, le first');
});

t.test('a value that is not a finite number is not counted; reset zeroes every series', async (t) => {
  const registry = new Registry();
  const plain = new PlainHistogram('y_seconds', 'Time of y.', ['code'], BUCKETS, registry);
  const ok = plain.series({ code: 'OK' });
  for (const value of [NaN, Infinity, -Infinity]) ok.observe(value);
  ok.observe(0.5);
  t.match(await registry.metrics(), /^y_seconds_count\{code="OK"\} 1$/m);
  t.match(await registry.metrics(), /^y_seconds_sum\{code="OK"\} 0.5$/m);
  registry.resetMetrics();
  t.match(await registry.metrics(), /^y_seconds_count\{code="OK"\} 0$/m);
  t.match(await registry.metrics(), /^y_seconds_bucket\{le="1",code="OK"\} 0$/m);
});
