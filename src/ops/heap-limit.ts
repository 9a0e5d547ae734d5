import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/**
 * Highest percentage set: V8's own heuristics let a heap grow at most
 * fourfold between full collections, and a tiny heap needs no more.
 */
const MAX_PERCENT = 300;

/** V8's young generation: what a full collection's limit does not cover. */
const YOUNG_SPACES = new Set(['new_space', 'new_large_object_space']);

/** The old generation's live bytes now: every heap space but the young generation's. */
export function oldGenerationBytes(): number {
  let bytes = 0;
  for (const space of getHeapSpaceStatistics()) if (!YOUNG_SPACES.has(space.space_name)) bytes += space.space_used_size;
  return bytes;
}

/**
 * V8's `--heap-growing-percent` (V8 sets the next full collection's limit at
 * live × (1 + percent / 100)) that puts that limit at `floorBytes`, or at
 * `minPercent` past what is live when that is higher; at most {@link MAX_PERCENT}.
 */
export function growingPercentFor(floorBytes: number, minPercent: number, liveBytes: number): number {
  const toFloor = Math.ceil((100 * (floorBytes - liveBytes)) / Math.max(liveBytes, 1));
  return Math.min(MAX_PERCENT, Math.max(minPercent, toFloor));
}

/** A change smaller than a tenth of the percentage in force (and than one point) is not written. */
function worthChanging(current: number, next: number): boolean {
  return Math.abs(next - current) >= Math.max(1, current / 10);
}

/** A 'gc' performance entry of a full (mark-compact) collection. */
export function isFullCollection(entry: PerformanceEntry): boolean {
  // A 'gc' entry's `detail` says which collection it was (Node's perf_hooks).
  return (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR;
}

/**
 * Keeps V8's next full collection from coming before the heap holds
 * `floorBytes`, and never less than `minPercent` past what is live (README
 * "Memory"). Each Check leaves some garbage in the old generation
 * (node:http2's per-stream objects outlive young collections), so full
 * collections come as often as that garbage fills the room left, and each
 * marks the whole live heap. A fixed percentage leaves a small heap (few
 * users) little room and many full collections; the floor lets it use memory
 * that a process sized for a full cache has anyway, and a large heap keeps the
 * percentage and its tight bound.
 *
 * After each full collection, V8's `--heap-growing-percent` is set from the
 * old generation then live, read by V8 when it next sets its limit; with no
 * floor it is set once, to `minPercent`. Returns a function that stops.
 */
export function keepHeapLimitFloor(
  floorBytes: number,
  minPercent: number,
  setPercent: (percent: number) => void = (percent) => setFlagsFromString(`--heap-growing-percent=${percent}`),
  liveBytes: () => number = oldGenerationBytes,
): () => void {
  let current = growingPercentFor(floorBytes, minPercent, liveBytes());
  setPercent(current); // before the first full collection: sized on the start-up heap
  if (floorBytes === 0) return () => {}; // no floor: the percentage never changes
  const observer = new PerformanceObserver((list) => {
    if (!list.getEntries().some(isFullCollection)) return;
    const next = growingPercentFor(floorBytes, minPercent, liveBytes());
    if (!worthChanging(current, next)) return;
    current = next;
    setPercent(next);
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}
