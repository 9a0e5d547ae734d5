/** Start-up retry waits: exponential backoff with full jitter, capped at 30 s. */
import t from 'tap';
import { backoffDelay, RETRY_CAP_MS } from '../src/retry.js';

t.test('the ceiling doubles from 1 s up to 30 s; the wait is uniform below it', async (t) => {
  const almostOne = () => 0.999_999;
  t.same([0, 1, 2, 3, 4, 5, 6, 50].map((attempt) => backoffDelay(attempt, almostOne)), [999, 1999, 3999, 7999, 15_999, 29_999, 29_999, 29_999]);
  t.equal(RETRY_CAP_MS, 30_000);
  t.equal(backoffDelay(3, () => 0), 0, 'full jitter: a wait can be zero');
  t.equal(backoffDelay(3, () => 0.5), 4000, 'halfway: half the ceiling');
  t.equal(backoffDelay(-1, () => 0.5), 500, 'a negative attempt counts as the first');
  t.equal(backoffDelay(10_000, () => 0.5), 15_000, 'huge attempt numbers stay at the cap');
});
