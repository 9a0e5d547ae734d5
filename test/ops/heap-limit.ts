import t from 'tap';
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { growingPercentFor, isFullCollection, keepHeapLimitFloor, oldGenerationBytes } from '../../src/ops/heap-limit.js';

const MB = 1024 * 1024;

// A full collection on demand: the flag is read when a context is created.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Resolves once a full collection has been reported to performance observers (their callbacks run after it). */
const afterFullCollection = async () => {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 50));
};

t.test('the percentage puts the limit at the floor, or the least percentage past what is live', async (t) => {
  t.equal(growingPercentFor(48 * MB, 10, 24 * MB), 100, 'half the floor live: as much again');
  t.equal(growingPercentFor(48 * MB, 10, 40 * MB), 20);
  t.equal(growingPercentFor(48 * MB, 10, 35 * MB), 38, 'rounded up (37.1 → 38): the limit never short of the floor');
  t.equal(growingPercentFor(48 * MB, 10, 46 * MB), 10, 'near the floor: the least percentage, not 5');
  t.equal(growingPercentFor(48 * MB, 10, 80 * MB), 10, 'past the floor: the percentage alone, the tight bound of a large heap');
  t.equal(growingPercentFor(48 * MB, 10, 1 * MB), 300, 'a tiny heap: no more than V8 itself would allow');
  t.equal(growingPercentFor(48 * MB, 10, 0), 300, 'nothing live: the cap, not a division by zero');
  t.equal(growingPercentFor(0, 10, 24 * MB), 10, 'no floor: the percentage');
});

t.test('the old generation is what the heap holds less its young generation', async (t) => {
  const old = oldGenerationBytes();
  t.ok(old > 0, 'something is live');
  t.ok(old <= getHeapStatistics().used_heap_size, 'no more than the whole heap');
});

t.test('set at once, then after each full collection as the live heap changes', async (t) => {
  const set: number[] = [];
  let live = 24 * MB;
  const stop = keepHeapLimitFloor(48 * MB, 10, (percent) => set.push(percent), () => live);
  t.same(set, [100], 'sized on the start-up heap, before any collection');

  live = 40 * MB; // the caches filling
  await afterFullCollection();
  t.same(set, [100, 20], 'a full collection sets it again from what is live then');

  live = 80 * MB; // filled past the floor
  await afterFullCollection();
  t.same(set, [100, 20, 10]);

  live = 90 * MB; // still 10: nothing to write
  await afterFullCollection();
  live = 32 * MB; // 50 → … first 50
  await afterFullCollection();
  live = 33 * MB; // 46: less than a tenth of 50 away
  await afterFullCollection();
  t.same(set, [100, 20, 10, 50], 'the same, or a small change, is not written');

  stop();
  live = 12 * MB;
  await afterFullCollection();
  t.same(set, [100, 20, 10, 50], 'stopped: nothing more');
});

t.test('no floor: the least percentage, set once', async (t) => {
  const set: number[] = [];
  let live = 24 * MB;
  const stop = keepHeapLimitFloor(0, 10, (percent) => set.push(percent), () => live);
  live = 200 * MB;
  await afterFullCollection();
  stop();
  t.same(set, [10], 'the fixed percentage, whatever is live later');
});

/** Full collections while objects that outlive young collections are made and dropped: the garbage a Check leaves in the old generation. */
async function fullCollectionsUnderChurn(): Promise<number> {
  let majors = 0;
  const observer = new PerformanceObserver((list) => {
    majors += list.getEntries().filter(isFullCollection).length;
  });
  observer.observe({ entryTypes: ['gc'] });
  const kept: object[][] = [];
  for (let round = 0; round < 300; round++) {
    kept.push(Array.from({ length: 20_000 }, (_, i) => ({ i, text: `x${i}` })));
    if (kept.length > 4) kept.shift();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return majors;
}

t.test('V8 honours the flag at run time: a low floor, more full collections', async (t) => {
  gc();
  let stop = keepHeapLimitFloor(0, 1);
  const tight = await fullCollectionsUnderChurn();
  stop();
  gc();
  stop = keepHeapLimitFloor(512 * MB, 1);
  const roomy = await fullCollectionsUnderChurn();
  stop();
  setFlagsFromString('--heap-growing-percent=0'); // V8's own heuristics for the rest of this process
  t.ok(tight >= 2 * roomy + 2, `1 % past the live heap: ${tight} full collections; a 512 MB floor: ${roomy}`);
});
