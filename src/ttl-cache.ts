import { LRUCache } from 'lru-cache';
import type { Clock } from './clock.js';

/**
 * A bounded LRU whose every entry carries its own lifetime (set per `set`),
 * measured on the injected clock, read afresh at every check. Never serves an
 * entry past its lifetime (one that has lived exactly `ttl` ms is still served)
 * and never extends a lifetime on read: an entry derived from a token must die
 * with it (SPEC §4).
 */
export function createTtlCache<V extends {}>(max: number, clock: Clock, onEvict?: () => void): LRUCache<string, V> {
  return new LRUCache<string, V>({
    max,
    ...(onEvict ? { dispose: (_value: V, _key: string, reason: LRUCache.DisposeReason) => reason === 'evict' && onEvict() } : {}),
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
