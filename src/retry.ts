/** Ceiling of the first wait. */
const BASE_MS = 1000;
/** Longest wait between two attempts. */
export const RETRY_CAP_MS = 30_000;

/**
 * Exponential backoff with full jitter: the wait before retry number `attempt`
 * (0 for the first) is uniform in [0, min(30 s, 1 s × 2^attempt)). Random waits
 * keep many replicas started together from retrying in step against an
 * authorization server that is just coming up.
 */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(RETRY_CAP_MS, BASE_MS * 2 ** Math.min(Math.max(attempt, 0), 16));
  return Math.floor(random() * ceiling);
}
