import { LRUCache } from 'lru-cache';
import type { Clock } from './clock.js';

/** What a {@link createTtlCache} tells of entries leaving it. */
export interface TtlCacheListeners<V> {
  /** an entry was evicted to stay within `max` (only that: not an expiry, an overwrite or a delete) */
  readonly onEvict?: () => void;
  /** an entry left the cache, whichever way: evicted, expired, overwritten by `set`, or deleted */
  readonly onRemove?: (value: V) => void;
}

/**
 * A bounded LRU whose every entry carries its own lifetime (set per `set`),
 * measured on the injected clock, read afresh at every check. Never serves an
 * entry past its lifetime (one that has lived exactly `ttl` ms is still served)
 * and never extends a lifetime on read: an entry derived from a token must die
 * with it (SPEC §4).
 */
export function createTtlCache<V extends {}>(max: number, clock: Clock, listeners: TtlCacheListeners<V> = {}): LRUCache<string, V> {
  const { onEvict, onRemove } = listeners;
  return new LRUCache<string, V>({
    max,
    ...(onEvict || onRemove
      ? {
          dispose: (value: V, _key: string, reason: LRUCache.DisposeReason) => {
            if (reason === 'evict') onEvict?.();
            onRemove?.(value);
          },
        }
      : {}),
    allowStale: false,
    updateAgeOnGet: false,
    updateAgeOnHas: false,
    ttlAutopurge: false,
    // Read the injected clock on every check: lru-cache's default (1 ms) reuses one reading until a timer clears it,
    // which a busy event loop delays and a test's clock never reaches.
    ttlResolution: 0,
    perf: { now: clock },
  });
}
