// Bench-only preload (`node --import ./bench/lib/eld-preload.mjs dist/main.js`):
// measures the event loop delay of the process it is loaded into, from outside
// the service's code. On SIGUSR2 it writes the histogram since the previous
// SIGUSR2 (and process.memoryUsage()) to `${BENCH_ELD_FILE}.<pid>.json`, then
// resets it. Values include the timer resolution; the report subtracts it.
// With --expose-gc and BENCH_ELD_GC=1 it also runs a full GC and records memory after it.
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const file = process.env.BENCH_ELD_FILE;
if (file) {
  const resolutionMs = Number(process.env.BENCH_ELD_RESOLUTION_MS ?? 10);
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  let seq = 0;
  const ms = (ns) => ns / 1e6;
  process.on('SIGUSR2', () => {
    seq++;
    const snapshot = {
      pid: process.pid,
      seq,
      resolutionMs,
      count: histogram.count,
      minMs: ms(histogram.min),
      meanMs: ms(histogram.mean),
      p50Ms: ms(histogram.percentile(50)),
      p90Ms: ms(histogram.percentile(90)),
      p99Ms: ms(histogram.percentile(99)),
      maxMs: ms(histogram.max),
      memory: process.memoryUsage(),
    };
    // With --expose-gc and BENCH_ELD_GC=1: also the heap after a full collection.
    if (process.env.BENCH_ELD_GC === '1' && typeof globalThis.gc === 'function') {
      globalThis.gc();
      snapshot.memoryAfterGc = process.memoryUsage();
    }
    writeFileSync(`${file}.${process.pid}.json`, JSON.stringify(snapshot));
    histogram.reset();
  });
}
